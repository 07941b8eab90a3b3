import { isoDay, isoMonth } from '../../platform/clock.js';
import type { Policy } from '../../platform/policy.js';
import { FEATURES, type Feature, type Tier } from '../../platform/policy.schema.js';
import type { BudgetLine } from './budget.repository.js';
import { microsFromUsd } from './price-book.js';

// Budget counter keys of one user begin with this (then the month). User ids cannot hold
// ':', so the prefix is the user's alone (erasure finds their counters by it).
export const USER_BUDGETS = 'user:';
export const userBudgetPrefix = (userId: string): string => `${USER_BUDGETS}${userId}:`;

// The key that records that one threshold notice of a budget line was sent (once per line
// and threshold); the notices of every line whose key begins with P begin with budgetNoticePrefix(P).
export const budgetNoticePrefix = (lineKeyPrefix: string): string => `budget:${lineKeyPrefix}`;
export const budgetNoticeKey = (lineKey: string, threshold: number): string => `${budgetNoticePrefix(lineKey)}:${threshold}`;

// Which budgets a call counts against, with their caps right now. A budget the policy
// leaves unset is unlimited and has no counter.
export function budgetLines(policy: Policy, p: { userId: string; tier: Tier; feature: Feature; userMonthlyOverrideMicros?: number | null }, now: number): BudgetLine[] {
  const lines: BudgetLine[] = [];
  const userCap = p.userMonthlyOverrideMicros ?? (policy.budgets.perUserMonthlyUsd?.[p.tier] !== undefined ? microsFromUsd(policy.budgets.perUserMonthlyUsd[p.tier]!) : undefined);
  if (userCap !== undefined) lines.push({ key: `${userBudgetPrefix(p.userId)}${isoMonth(now)}`, capMicros: userCap });
  return [...lines, ...sharedLines(policy, [p.feature], now)];
}

// The budgets every user shares (per feature and global, daily), for all features: the
// analytics burn and the budget gauges read these.
export function serviceBudgetLines(policy: Policy, now: number): BudgetLine[] {
  return sharedLines(policy, FEATURES, now);
}

// The budgets every user shares that one feature's calls count against (its daily budget and
// the global one): what batch results, which belong to no learner's reservation, are charged to.
export function sharedBudgetLines(policy: Policy, feature: Feature, now: number): BudgetLine[] {
  return sharedLines(policy, [feature], now);
}

function sharedLines(policy: Policy, features: readonly Feature[], now: number): BudgetLine[] {
  const day = isoDay(now);
  const lines: BudgetLine[] = [];
  if (policy.budgets.globalDailyUsd !== undefined) lines.push({ key: `global:${day}`, capMicros: microsFromUsd(policy.budgets.globalDailyUsd) });
  for (const f of features) {
    const cap = policy.budgets.perFeatureDailyUsd?.[f];
    if (cap !== undefined) lines.push({ key: `feature:${f}:${day}`, capMicros: microsFromUsd(cap) });
  }
  return lines;
}

/** Spent over cap, 0..1 and past it. A zero cap means "nothing allowed": exhausted by definition. */
export function usedRatio(spentMicros: number, capMicros: number): number {
  return capMicros === 0 ? 1 : spentMicros / capMicros;
}

// `feature:grading:2026-11-27` → `feature:grading`: the budget without its period.
export function budgetName(key: string): string {
  return key.replace(/:\d{4}-\d{2}(-\d{2})?$/, '');
}

// Seconds until the earliest of these budgets resets (for Retry-After).
export function secondsUntilReset(key: string, now: number): number {
  const d = new Date(now);
  const next = key.startsWith('user:')
    ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
    : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
  return Math.max(1, Math.ceil((next - now) / 1000));
}
