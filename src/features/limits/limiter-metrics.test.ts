import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { registerLimiterMetrics } from './limiter-metrics.js';

describe('registerLimiterMetrics', () => {
  it('counts decisions by tier, feature, refusing limit and outcome', async () => {
    const registry = new Registry();
    const recorder = registerLimiterMetrics(registry);
    recorder.record('premium', 'grading', { allowed: true });
    recorder.record('premium', 'grading', { allowed: true });
    recorder.record('free', 'grading', { allowed: false, violated: 'requestsPerMinute' });
    const text = await registry.metrics();
    expect(text).toContain('tutorgate_ratelimit_decisions_total{tier="premium",feature="grading",limit="none",outcome="allowed"} 2');
    expect(text).toContain(
      'tutorgate_ratelimit_decisions_total{tier="free",feature="grading",limit="requestsPerMinute",outcome="rejected"} 1',
    );
  });

  it('can be registered twice on one registry without throwing, sharing the counter', async () => {
    const registry = new Registry();
    registerLimiterMetrics(registry).record('free', 'path', { allowed: true });
    registerLimiterMetrics(registry).record('free', 'path', { allowed: true });
    expect(await registry.metrics()).toContain('limit="none",outcome="allowed"} 2');
  });
});
