import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BudgetRepository } from '../../src/features/usage/budget.repository.js';
import { openTestStore, STORE_KINDS, type TestStore } from '../helpers/databases.js';

// A user's override holds two things set apart (PUT …/limits and PUT …/budget). Each used to
// read the row and write it back whole, so two changes at once (two admins, two instances)
// lost one of them: the second write put back the first's column as it had read it.
describe.each(STORE_KINDS)('user overrides on %s', (kind) => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await openTestStore(kind);
  });
  afterAll(() => ts.cleanup());

  it('keeps both the limits and the budget when they are set at the same time', async () => {
    const repo = new BudgetRepository(ts.store.db);
    for (let i = 0; i < 10; i++) {
      const user = `u${i}`;
      await Promise.all([repo.putOverride(user, { limits: { requestsPerMinute: 7 } }, 1), repo.putOverride(user, { monthlyBudgetMicros: 5_000_000 }, 1)]);
      expect(await repo.getOverride(user)).toEqual({ limits: { requestsPerMinute: 7 }, monthlyBudgetMicros: 5_000_000 });
    }
  });

  it('changes only what a change names, and clears with null', async () => {
    const repo = new BudgetRepository(ts.store.db);
    await repo.putOverride('v', { limits: { requestsPerMinute: 3 } }, 1);
    await repo.putOverride('v', { monthlyBudgetMicros: 2_000_000 }, 2);
    expect(await repo.getOverride('v')).toEqual({ limits: { requestsPerMinute: 3 }, monthlyBudgetMicros: 2_000_000 });
    await repo.putOverride('v', { limits: null }, 3);
    expect(await repo.getOverride('v')).toEqual({ limits: null, monthlyBudgetMicros: 2_000_000 });
    await repo.putOverride('v', { monthlyBudgetMicros: null }, 4);
    expect(await repo.getOverride('v')).toEqual({ limits: null, monthlyBudgetMicros: null });
  });
});
