import { Counter, type Registry } from 'prom-client';

export interface CacheMetrics {
  requests: Counter<'feature' | 'result'>;
  evictions: Counter<'feature'>;
  savedTokens: Counter<'feature'>;
  savedUsd: Counter<'feature'>;
}

/** Idempotent per registry, so app and test setup can both call it without "already registered" errors. */
export function registerCacheMetrics(registry: Registry): CacheMetrics {
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
    (registry.getSingleMetric(name) as Counter<L> | undefined) ??
    new Counter<L>({ name, help, labelNames, registers: [registry] });
  return {
    requests: counter('tutorgate_cache_requests_total', 'Cache lookups by result (hit = served without a new upstream call).', ['feature', 'result']),
    evictions: counter('tutorgate_cache_evictions_total', 'Memory-tier entries evicted to stay within the byte budget.', ['feature']),
    savedTokens: counter('tutorgate_cache_saved_tokens_total', 'Tokens the original call spent, summed over cache hits.', ['feature']),
    savedUsd: counter('tutorgate_cache_saved_usd_total', 'USD the original call cost, summed over cache hits.', ['feature']),
  };
}
