import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export interface HttpMetrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
}

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
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return { registry, httpDuration };
}
