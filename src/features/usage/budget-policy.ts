import { isoDay, isoMonth } from '../../platform/clock.js';
import type { Policy } from '../../platform/policy.js';
import type { Feature, Tier } from '../../platform/policy.schema.js';
import type { BudgetLine } from './budget.repository.js';
import { microsFromUsd } from './price-book.js';

// Which budgets a call counts against, with their caps right now. A budget the policy
// leaves unset is unlimited and has no counter.
export function budgetLines(policy: Policy, p: { userId: string; tier: Tier; feature: Feature; userMonthlyOverrideMicros?: number | null }, now: number): BudgetLine[] {
  const lines: BudgetLine[] = [];
  const userCap = p.userMonthlyOverrideMicros ?? (policy.budgets.perUserMonthlyUsd?.[p.tier] !== undefined ? microsFromUsd(policy.budgets.perUserMonthlyUsd[p.tier]!) : undefined);
  if (userCap !== undefined) lines.push({ key: `user:${p.userId}:${isoMonth(now)}`, capMicros: userCap });
  const featureCap = policy.budgets.perFeatureDailyUsd?.[p.feature];
  if (featureCap !== undefined) lines.push({ key: `feature:${p.feature}:${isoDay(now)}`, capMicros: microsFromUsd(featureCap) });
  if (policy.budgets.globalDailyUsd !== undefined) lines.push({ key: `global:${isoDay(now)}`, capMicros: microsFromUsd(policy.budgets.globalDailyUsd) });
  return lines;
}

// Seconds until the earliest of these budgets resets (for Retry-After).
export function secondsUntilReset(key: string, now: number): number {
  const d = new Date(now);
  const next = key.startsWith('user:')
    ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
    : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
  return Math.max(1, Math.ceil((next - now) / 1000));
}
