import { isoDay } from '../../platform/clock.js';
import type { Clock } from '../../platform/clock.js';
import type { Policy } from '../../platform/policy.js';
import type { BudgetRepository } from '../usage/budget.repository.js';
import { microsFromUsd } from '../usage/price-book.js';
import type { BudgetUsage } from './llm-metrics.js';

// The shared budgets only (global and per feature, both daily). Per-user monthly budgets
// are left out on purpose: one series per learner would swamp Prometheus, and the
// metering service already notifies each user budget at 80 % and 100 %.
export function createBudgetUsageReader(deps: { budgets: Pick<BudgetRepository, 'read'>; policy: Policy; clock: Clock }): () => Promise<BudgetUsage[]> {
  return async () => {
    const day = isoDay(deps.clock.now());
    // Key formats are the ones budgetLines() writes in the usage feature.
    const lines: { budget: string; key: string; capUsd: number }[] = [];
    if (deps.policy.budgets.globalDailyUsd !== undefined) lines.push({ budget: 'global', key: `global:${day}`, capUsd: deps.policy.budgets.globalDailyUsd });
    for (const [feature, capUsd] of Object.entries(deps.policy.budgets.perFeatureDailyUsd ?? {})) {
      if (capUsd !== undefined) lines.push({ budget: `feature:${feature}`, key: `feature:${feature}:${day}`, capUsd });
    }
    const counters = await deps.budgets.read(lines.map((l) => l.key));
    return lines.map((l) => {
      const spent = counters.get(l.key)?.spent ?? 0;
      const cap = microsFromUsd(l.capUsd);
      // A zero cap means "nothing allowed": that budget is exhausted by definition.
      const used = cap === 0 ? 1 : spent / cap;
      return { budget: l.budget, used, limitUsd: l.capUsd };
    });
  };
}
