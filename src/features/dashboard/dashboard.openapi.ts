import { z } from 'zod';
import { flagAnalyticsSchema, FlagSchema } from '../flags/flags.openapi.js';
import { RateLimitsSchema } from '../premium/premium.openapi.js';

// Documentation only (see platform/http/openapi.ts): the operating state ops.routes.ts and
// ops-figures.ts build for the dashboard.

const count = z.number().min(0);

export const OpsSchema = z.strictObject({
  cache: z.strictObject({ hits: count, misses: count, evictions: count, entries: count, bytes: count }).meta({ description: "This instance's memory tier since it started" }),
  flags: z.array(FlagSchema),
  flagAnalytics: flagAnalyticsSchema(false).meta({ description: 'As GET /v1/admin/flags-analytics, without the per-minute series' }),
  llm: z.strictObject({
    breaker: z.enum(['closed', 'open', 'half_open']).meta({ description: "The upstream circuit breaker of this instance" }),
    key: z.string().nullable().meta({ description: 'A fingerprint of the Anthropic key (never the key); null when none is set' }),
  }),
  limits: RateLimitsSchema.shape.tiers,
  figures: z
    .strictObject({
      cache: z.strictObject({
        byFeature: z.array(z.strictObject({ feature: z.string(), hits: count, misses: count, savedTokens: count, savedUsd: count })),
        savedTokens: count,
        savedUsd: count,
      }),
      limiter: z.strictObject({ byTier: z.array(z.strictObject({ tier: z.string(), allowed: count, rejected: count })) }),
      premium: z.strictObject({
        bySource: z.record(z.string(), count).meta({ description: 'Premium answers by source: llm, cache, rules and refused, always listed' }),
        topFallbackReasons: z.array(z.strictObject({ reason: z.string(), count })).meta({ description: 'The five commonest, most first' }),
      }),
    })
    .meta({ description: "From this instance's Prometheus counters (reset on restart)" }),
});
