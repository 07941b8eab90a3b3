import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { registerCacheMetrics } from '../cache/cache-metrics.js';
import { registerLimiterMetrics } from '../limits/limiter-metrics.js';
import { registerPremiumMetrics } from '../premium/premium-metrics.js';
import { readOpsFigures } from './ops-figures.js';

describe('readOpsFigures', () => {
  it('reads cache savings, limiter decisions and answer sources from the counters the app registers', async () => {
    const registry = new Registry();
    const cache = registerCacheMetrics(registry);
    const limiter = registerLimiterMetrics(registry);
    const premium = registerPremiumMetrics(registry);
    cache.requests.inc({ feature: 'grading', result: 'hit' }, 3);
    cache.requests.inc({ feature: 'grading', result: 'miss' }, 2);
    cache.requests.inc({ feature: 'learning_path', result: 'miss' });
    cache.savedTokens.inc({ feature: 'grading' }, 4_500);
    cache.savedUsd.inc({ feature: 'grading' }, 0.1);
    cache.savedUsd.inc({ feature: 'grading' }, 0.2);
    limiter.record('free', 'grading', { allowed: true });
    limiter.record('free', 'grading', { allowed: false, violated: 'requestsPerMinute' });
    limiter.record('free', 'learning_path', { allowed: false, violated: 'tokensPerDay' });
    limiter.record('premium', 'grading', { allowed: true });
    premium.outcome('grading', 'llm', undefined);
    premium.outcome('grading', 'cache', undefined);
    for (let i = 0; i < 3; i++) premium.outcome('grading', 'rules', 'flag_off');
    premium.outcome('learning_path', 'rules', 'flag_off');
    premium.outcome('grading', 'rules', 'budget_exhausted');

    const f = await readOpsFigures(registry);
    expect(f.cache.byFeature).toEqual([
      { feature: 'grading', hits: 3, misses: 2, savedTokens: 4_500, savedUsd: expect.closeTo(0.3, 9) },
      { feature: 'learning_path', hits: 0, misses: 1, savedTokens: 0, savedUsd: 0 },
    ]);
    expect(f.cache.savedTokens).toBe(4_500);
    expect(f.cache.savedUsd).toBe(0.3); // not 0.30000000000000004
    expect(f.limiter.byTier).toEqual([
      { tier: 'free', allowed: 1, rejected: 2 },
      { tier: 'premium', allowed: 1, rejected: 0 },
    ]);
    expect(f.premium.bySource).toEqual({ llm: 1, cache: 1, rules: 5, refused: 0 });
    expect(f.premium.topFallbackReasons).toEqual([
      { reason: 'flag_off', count: 4 },
      { reason: 'budget_exhausted', count: 1 },
    ]);
  });

  it('keeps the five most frequent fallback reasons', async () => {
    const registry = new Registry();
    const premium = registerPremiumMetrics(registry);
    ['a', 'b', 'c', 'd', 'e', 'f', 'g'].forEach((reason, i) => {
      for (let n = 0; n <= i; n++) premium.outcome('grading', 'rules', reason);
    });
    const f = await readOpsFigures(registry);
    expect(f.premium.topFallbackReasons.map((r) => r.reason)).toEqual(['g', 'f', 'e', 'd', 'c']);
  });

  it('answers zeros when the counters are not registered, rather than failing the page', async () => {
    expect(await readOpsFigures(new Registry())).toEqual({
      cache: { byFeature: [], savedTokens: 0, savedUsd: 0 },
      limiter: { byTier: [] },
      premium: { bySource: { llm: 0, cache: 0, rules: 0, refused: 0 }, topFallbackReasons: [] },
    });
  });
});
