import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export interface HttpMetrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
}

/**
 * Bounds of the HTTP duration histogram, in seconds. The top finite bound sits well above the
 * 10 s latency alert: a quantile whose rank falls in +Inf comes out as the top finite bound, so
 * an alert at (or above) that bound could never fire. The policy refuses p95LatencyMs alerts
 * that the histogram cannot tell apart.
 */
export const HTTP_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120] as const;
export const HTTP_DURATION_TOP_MS = Math.max(...HTTP_DURATION_BUCKETS) * 1000;

// One registry per app instance (not prom-client's global), so tests can build
// several apps in one process.
export function createMetrics(): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tutorgate_' });
  // prom-client exports these sums as gauges named *_total, which promtool rejects; the per-type gauges remain.
  for (const n of ['active_handles_total', 'active_requests_total', 'active_resources_total']) registry.removeSingleMetric(`tutorgate_nodejs_${n}`);
  const httpDuration = new Histogram({
    name: 'tutorgate_http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by route template and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [...HTTP_DURATION_BUCKETS],
    registers: [registry],
  });
  return { registry, httpDuration };
}
