import { Counter, type Registry } from 'prom-client';

export interface PremiumMetrics {
  outcome(feature: string, source: string, reason: string | undefined): void;
}

export function registerPremiumMetrics(registry: Registry): PremiumMetrics {
  const requests = new Counter({
    name: 'tutorgate_premium_requests_total',
    help: 'Premium feature requests by the source of the answer (llm, cache, rules, or refused with 429 budget_exhausted) and, for rules and refused answers, the reason.',
    labelNames: ['feature', 'source', 'reason'] as const,
    registers: [registry],
  });
  return { outcome: (feature, source, reason) => requests.inc({ feature, source, reason: reason ?? 'none' }) };
}
