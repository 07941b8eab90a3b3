import type { PolicyFile } from './policy.schema.js';

// The built-in policy (documented in README "Policy"). A policy file overrides it
// section by section and key by key; prices are added to these.
// Prices: USD per million tokens, list prices as published by Anthropic, checked 2026-11-29:
// - per model (base input, 5m and 1h cache writes, cache hits, output):
//   https://platform.claude.com/docs/en/about-claude/pricing ("Model pricing"), and each model's
//   page, e.g. https://platform.claude.com/docs/en/models/opus-4-6/overview;
// - batchDiscount 0.5: "Batch processing" on the same page (50 % off every token kind, cache
//   writes and hits included: the multipliers stack);
// - usOnlyMultiplier 1.1: US-only inference (`inference_geo: "us"`, per request or the
//   workspace's default_inference_geo) on Opus 4.6, Sonnet 4.6 and later,
//   https://platform.claude.com/docs/en/manage-claude/data-residency and
//   https://docs.aws.amazon.com/claude-platform/latest/userguide/data-residency.html
//   (older models refuse the parameter: no multiplier);
// - no long-context premium applies: Haiku 4.5, Sonnet 4.5 (its 1M beta header retired; we
//   never sent it) and Opus 4.5 stop at 200K tokens, and Opus 4.6 / Sonnet 4.6 bill their 1M
//   window at the standard rates. Fast mode (`speed: "fast"`) and server tools are never requested.
export const DEFAULT_POLICY: PolicyFile = {
  tiers: { free: { features: [] }, premium: { features: ['grading', 'learning_path'] } },
  subscriptions: { gracePeriod: '3d' },
  models: { grading: 'claude-haiku-4-5', learning_path: 'claude-sonnet-4-6' },
  prices: [
    { model: 'claude-haiku-4-5', effective: '2025-10-01', input: 1, output: 5, cacheWrite5m: 1.25, cacheWrite1h: 2, cacheRead: 0.1, batchDiscount: 0.5 },
    { model: 'claude-sonnet-4-5', effective: '2025-09-29', input: 3, output: 15, cacheWrite5m: 3.75, cacheWrite1h: 6, cacheRead: 0.3, batchDiscount: 0.5 },
    { model: 'claude-sonnet-4-6', effective: '2026-02-17', input: 3, output: 15, cacheWrite5m: 3.75, cacheWrite1h: 6, cacheRead: 0.3, batchDiscount: 0.5, usOnlyMultiplier: 1.1 },
    { model: 'claude-opus-4-5', effective: '2025-11-24', input: 5, output: 25, cacheWrite5m: 6.25, cacheWrite1h: 10, cacheRead: 0.5, batchDiscount: 0.5 },
    { model: 'claude-opus-4-6', effective: '2026-02-05', input: 5, output: 25, cacheWrite5m: 6.25, cacheWrite1h: 10, cacheRead: 0.5, batchDiscount: 0.5, usOnlyMultiplier: 1.1 },
  ],
  limits: {
    free: { requestsPerMinute: 60, requestsPerHour: 1000 },
    premium: { requestsPerMinute: 30, requestsPerHour: 600, tokensPerDay: 200_000, concurrent: 4 },
  },
  budgets: {
    perUserMonthlyUsd: { premium: 5 },
    perFeatureDailyUsd: { grading: 200, learning_path: 100 },
    globalDailyUsd: 500,
    onExhausted: 'rules',
  },
  cache: { grading: { ttl: '30d', scope: 'shared' }, learning_path: { ttl: '1h', scope: 'user' } },
  flags: { grading: { enabled: true, rollout: 100 }, learning_path: { enabled: true, rollout: 100 } },
  alerts: { rules: [{ name: 'hourly-cost', metric: 'costUsdPerHour', above: 20, cooldown: '1h' }] },
};
