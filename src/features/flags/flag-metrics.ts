import { Counter, type Registry } from 'prom-client';

export const FLAG_EVALUATIONS_METRIC = 'tutorgate_flag_evaluations_total';

export interface FlagMetrics {
  evaluations: Counter<'flag' | 'variant' | 'reason'>;
}

// Idempotent per registry: the app and tests may wire flags more than once, and
// prom-client throws on a duplicate name.
export function registerFlagMetrics(registry: Registry): FlagMetrics {
  const existing = registry.getSingleMetric(FLAG_EVALUATIONS_METRIC);
  const evaluations =
    existing instanceof Counter
      ? (existing as Counter<'flag' | 'variant' | 'reason'>)
      : new Counter({
          name: FLAG_EVALUATIONS_METRIC,
          help: 'Feature flag evaluations through OpenFeature, by flag, variant and reason.',
          labelNames: ['flag', 'variant', 'reason'] as const,
          registers: [registry],
        });
  return { evaluations };
}
