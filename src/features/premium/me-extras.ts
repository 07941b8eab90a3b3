import { isoMonth, type Clock } from '../../platform/clock.js';
import type { Policy } from '../../platform/policy.js';
import type { Principal } from '../identity/identity.types.js';
import type { RateLimiter } from '../limits/limit-types.js';
import type { BudgetRepository } from '../usage/budget.repository.js';
import { budgetLines } from '../usage/budget-policy.js';
import { limitKeyFor, limitSpecFor } from './limit-spec.js';
import type { UserOverridesReader } from './user-overrides.js';

// What GET /v1/me adds: limits left per feature and the monthly budget left.
export function meExtras(deps: { policy: Policy; limiter: RateLimiter; budgets: BudgetRepository; overrides: Pick<UserOverridesReader, 'get'>; clock: Clock }) {
  return async (p: Principal): Promise<Record<string, unknown>> => {
    const override = await deps.overrides.get(p.userId);
    const limits: Record<string, unknown> = {};
    for (const feature of ['grading', 'learning_path'] as const) {
      const spec = limitSpecFor(deps.policy, p.tier, feature, override?.limits);
      limits[feature] = await deps.limiter.peek(limitKeyFor(p.tier, feature, p.userId), spec).catch(() => ({ unavailable: true }));
    }
    const now = deps.clock.now();
    const userLine = budgetLines(deps.policy, { userId: p.userId, tier: p.tier, feature: 'grading', userMonthlyOverrideMicros: override?.monthlyBudgetMicros ?? null }, now).find((l) => l.key.startsWith('user:'));
    let budget: Record<string, unknown> | null = null;
    if (userLine) {
      const s = (await deps.budgets.read([userLine.key])).get(userLine.key) ?? { spent: 0, reserved: 0 };
      budget = { period: isoMonth(now), capUsd: userLine.capMicros / 1e6, spentUsd: s.spent / 1e6, remainingUsd: Math.max(0, userLine.capMicros - s.spent - s.reserved) / 1e6 };
    }
    return { limits, budget };
  };
}
