import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../platform/policy.js';
import { budgetLines, budgetName, secondsUntilReset, usedRatio } from './budget-policy.js';

// Expectations are derived from the calendar, not copied from the implementation's output.
const at = Date.parse('2026-11-27T12:00:00Z');
const untilUtc = (iso: string) => (Date.parse(iso) - at) / 1000;

describe('budget policy', () => {
  it('a user budget resets at the start of the next UTC month; daily budgets at the next UTC midnight', () => {
    expect(secondsUntilReset('user:u1:2026-11', at)).toBe(untilUtc('2026-12-01T00:00:00Z'));
    expect(secondsUntilReset('global:2026-11-27', at)).toBe(untilUtc('2026-11-28T00:00:00Z'));
    expect(secondsUntilReset('feature:grading:2026-11-27', at)).toBe(untilUtc('2026-11-28T00:00:00Z'));
    // December rolls into January of the next year; never less than a second.
    const lastMoment = Date.parse('2026-12-31T23:59:59.999Z');
    expect(secondsUntilReset('user:u1:2026-12', lastMoment)).toBe(1);
    expect(secondsUntilReset('user:u1:2026-12', Date.parse('2026-12-15T00:00:00Z'))).toBe((Date.parse('2027-01-01T00:00:00Z') - Date.parse('2026-12-15T00:00:00Z')) / 1000);
  });

  it('names the lines a call counts against, with their caps in micro-dollars, and honours a user override', () => {
    const policy = parsePolicy({ budgets: { perUserMonthlyUsd: { premium: 5 }, perFeatureDailyUsd: { grading: 200, learning_path: null }, globalDailyUsd: 500 } });
    expect(budgetLines(policy, { userId: 'u1', tier: 'premium', feature: 'grading' }, at)).toEqual([
      { key: 'user:u1:2026-11', capMicros: 5_000_000 },
      { key: 'global:2026-11-27', capMicros: 500_000_000 },
      { key: 'feature:grading:2026-11-27', capMicros: 200_000_000 },
    ]);
    expect(budgetLines(policy, { userId: 'u1', tier: 'premium', feature: 'grading', userMonthlyOverrideMicros: 40_000 }, at)[0]).toEqual({ key: 'user:u1:2026-11', capMicros: 40_000 });
    // A tier without a monthly budget has no user line; a feature without a daily cap has no feature line.
    expect(budgetLines(policy, { userId: 'u2', tier: 'free', feature: 'learning_path' }, at)).toEqual([{ key: 'global:2026-11-27', capMicros: 500_000_000 }]);
  });

  it('a zero cap is used up; names drop the period', () => {
    expect(usedRatio(0, 0)).toBe(1);
    expect(usedRatio(2_500, 10_000)).toBe(0.25);
    expect(budgetName('feature:grading:2026-11-27')).toBe('feature:grading');
    expect(budgetName('user:u1:2026-11')).toBe('user:u1');
  });
});
