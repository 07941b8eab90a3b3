import type { Clock } from '../../platform/clock.js';
import type { Policy } from '../../platform/policy.js';
import type { BudgetRepository } from '../usage/budget.repository.js';
import { budgetName, serviceBudgetLines, usedRatio } from '../usage/budget-policy.js';
import type { BudgetUsage } from './llm-metrics.js';

// The shared budgets only (global and per feature, both daily). Per-user monthly budgets
// are left out on purpose: one series per learner would swamp Prometheus, and the
// metering service already notifies each user budget at 80 % and 100 %.
export function createBudgetUsageReader(deps: { budgets: Pick<BudgetRepository, 'read'>; policy: Policy; clock: Clock }): () => Promise<BudgetUsage[]> {
  return async () => {
    const lines = serviceBudgetLines(deps.policy, deps.clock.now());
    const counters = await deps.budgets.read(lines.map((l) => l.key));
    return lines.map((l) => {
      const spent = counters.get(l.key)?.spent ?? 0;
      return { budget: budgetName(l.key), used: usedRatio(spent, l.capMicros), limitUsd: l.capMicros / 1e6 };
    });
  };
}
