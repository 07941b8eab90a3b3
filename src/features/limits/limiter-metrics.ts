import { Counter, type Registry } from 'prom-client';
import type { LimitName } from './limit-types.js';

export interface LimiterMetricsRecorder {
  /**
   * Counts one decision. `limit` is the refusing limit for rejections and "none" for
   * admissions (an admission passed every limit, so naming one would mislead dashboards).
   */
  record(tier: string, feature: string, decision: { allowed: boolean; violated?: LimitName }): void;
}

const NAME = 'tutorgate_ratelimit_decisions_total';

export function registerLimiterMetrics(registry: Registry): LimiterMetricsRecorder {
  // Reuse on a second call (tests, hot reload) instead of throwing "already registered".
  const existing = registry.getSingleMetric(NAME) as Counter<'tier' | 'feature' | 'limit' | 'outcome'> | undefined;
  const counter =
    existing ??
    new Counter({
      name: NAME,
      help: 'Rate-limit decisions by tier, feature, refusing limit and outcome',
      labelNames: ['tier', 'feature', 'limit', 'outcome'] as const,
      registers: [registry],
    });
  return {
    record(tier, feature, decision) {
      counter.inc({
        tier,
        feature,
        limit: decision.allowed ? 'none' : (decision.violated ?? 'unknown'),
        outcome: decision.allowed ? 'allowed' : 'rejected',
      });
    },
  };
}
