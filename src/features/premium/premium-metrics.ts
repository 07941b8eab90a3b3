import { Counter, type Registry } from 'prom-client';
import { budgetName } from '../usage/budget-policy.js';

export interface PremiumMetrics {
  outcome(feature: string, source: string, reason: string | undefined): void;
  /** A budget line (its key) refused a call's reservation. */
  budgetRefused(key: string): void;
}

export function registerPremiumMetrics(registry: Registry): PremiumMetrics {
  const requests = new Counter({
    name: 'tutorgate_premium_requests_total',
    help: 'Premium feature requests by the source of the answer (llm, cache, rules, or refused with 429 budget_exhausted) and, for rules and refused answers, the reason.',
    labelNames: ['feature', 'source', 'reason'] as const,
    registers: [registry],
  });
  // A budget refuses once the call's worst case no longer fits, so its spend can stop short of
  // the cap for good (by up to a call's worst case, more with holds in flight): a used ratio of
  // 1 never comes, and this is what says the budget is spent. Users' own budgets are one
  // label value, `user`, not one per user.
  const refusals = new Counter({
    name: 'tutorgate_budget_refusals_total',
    help: 'Reservations refused by a budget: global, feature:<name>, or user (any learner\'s own monthly budget).',
    labelNames: ['budget'] as const,
    registers: [registry],
  });
  return {
    outcome: (feature, source, reason) => requests.inc({ feature, source, reason: reason ?? 'none' }),
    budgetRefused: (key) => refusals.inc({ budget: key.startsWith('user:') ? 'user' : budgetName(key) }),
  };
}
