import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/platform/db/database.js';
import { parsePolicy } from '../../src/platform/policy.js';
import { BudgetRepository } from '../../src/features/usage/budget.repository.js';
import { MeteringService, type MeteredCall } from '../../src/features/usage/metering.service.js';
import { PriceBook } from '../../src/features/usage/price-book.js';
import { UsageLedgerRepository } from '../../src/features/usage/usage-ledger.repository.js';
import { insertUsers, openTestStore, STORE_KINDS, type TestStore } from '../helpers/databases.js';
import { ManualClock } from '../helpers/test-app.js';

const prices = new PriceBook(parsePolicy(undefined).prices);
const call = (messageId: string, input: number, output: number): MeteredCall => ({
  model: 'claude-haiku-4-5',
  messageId,
  latencyMs: 12,
  outcome: 'ok',
  usage: { inputTokens: input, outputTokens: output, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, cacheReadTokens: 0 },
});

describe.each(STORE_KINDS)('metering on %s', (kind) => {
  let ts: TestStore;
  const clock = new ManualClock();
  let metering: MeteringService;
  beforeAll(async () => {
    ts = await openTestStore(kind);
    await insertUsers(ts.store.db, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
    metering = new MeteringService(ts.store, prices, clock);
  });
  afterAll(() => ts.cleanup());

  it('settles a reservation to the exact cost, once', async () => {
    const lines = [{ key: 'user:m1:2026-11', capMicros: 1_000_000 }];
    const r = await metering.reserve({ userId: 'm1', feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 50_000, lines });
    if (!r.ok) throw new Error('refused');
    const summary = await metering.settle(r.reservation, [call('msg_a', 1000, 200), call('msg_b', 1100, 210)], 'llm');
    expect(summary.costUsd).toBe((1000 + 1000 + 1100 + 1050) / 1e6);
    await metering.settle(r.reservation, [call('msg_a', 1000, 200)], 'llm'); // a retried settle counts nothing
    const budget = (await new BudgetRepository(ts.store.db).read(['user:m1:2026-11'])).get('user:m1:2026-11');
    expect(budget).toEqual({ spent: 4150, reserved: 0 });
    const rows = await new UsageLedgerRepository(ts.store.db).settledRows({ userId: 'm1' });
    expect(rows.map((x) => [x.message_id, Number(x.cost_micros)]).sort()).toEqual([['msg_a', 2000], ['msg_b', 2150]]);
    const daily = await ts.store.db.selectFrom('usage_daily').selectAll().where('user_id', '=', 'm1').execute();
    expect(daily).toHaveLength(1);
    expect(Number(daily[0]!.cost_micros)).toBe(4150);
    expect(Number(daily[0]!.calls)).toBe(2);
  });

  it('a refused budget line rolls back the lines reserved before it and the pending row', async () => {
    // Sorted order: feature:… is reserved before global:…, which has room for one call only.
    const lines = [
      { key: 'global:2026-11-28', capMicros: 15_000 },
      { key: 'feature:grading:2026-11-28', capMicros: 1_000_000 },
    ];
    const ok = await metering.reserve({ userId: 'm4', feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 10_000, lines });
    expect(ok.ok).toBe(true);
    const refused = await metering.reserve({ userId: 'm4', feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 10_000, lines });
    expect(refused).toEqual({ ok: false, refusedKey: 'global:2026-11-28' });
    const budgets = await new BudgetRepository(ts.store.db).read(lines.map((l) => l.key));
    expect(budgets.get('feature:grading:2026-11-28')).toEqual({ spent: 0, reserved: 10_000 });
    expect(budgets.get('global:2026-11-28')).toEqual({ spent: 0, reserved: 10_000 });
    const pending = await ts.store.db.selectFrom('usage_ledger').select('id').where('user_id', '=', 'm4').execute();
    expect(pending).toHaveLength(1);
    if (ok.ok) await metering.release(ok.reservation); // leaves no pending row for the reconcile test
  });

  it('refuses a worst case larger than the cap of a budget that has no counter yet, and creates none', async () => {
    const lines = [{ key: 'user:m7:2026-11', capMicros: 5_000 }];
    expect(await metering.reserve({ userId: 'm7', feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 5_001, lines })).toEqual({ ok: false, refusedKey: 'user:m7:2026-11' });
    expect((await new BudgetRepository(ts.store.db).read(['user:m7:2026-11'])).size).toBe(0);
    const r = await metering.reserve({ userId: 'm7', feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 5_000, lines }); // exactly the cap fits
    expect(r.ok).toBe(true);
    if (r.ok) await metering.release(r.reservation);
  });

  it('names the first refused line in key order and leaves the others untouched', async () => {
    const lines = [
      { key: 'user:m5:2026-11', capMicros: 1_000_000 },
      { key: 'global:2026-11-29', capMicros: 1_000_000 },
      { key: 'feature:grading:2026-11-29', capMicros: 25_000 },
    ];
    const budgets = new BudgetRepository(ts.store.db);
    const first = await metering.reserve({ userId: 'm5', feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 20_000, lines });
    expect(first.ok).toBe(true);
    const before = await budgets.read(lines.map((l) => l.key));
    expect(await metering.reserve({ userId: 'm5', feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 20_000, lines })).toEqual({ ok: false, refusedKey: 'feature:grading:2026-11-29' });
    expect(await budgets.read(lines.map((l) => l.key))).toEqual(before);
    if (first.ok) await metering.release(first.reservation);
    expect([...(await budgets.read(lines.map((l) => l.key))).values()]).toEqual(lines.map(() => ({ spent: 0, reserved: 0 })));
  });

  it('notifies once per period at 80 % and at 100 % of a budget', async () => {
    const events: { key: string; threshold: number }[] = [];
    const m = new MeteringService(ts.store, prices, clock, (e) => events.push({ key: e.key, threshold: e.threshold }));
    const lines = [{ key: 'user:m3:2026-11', capMicros: 10_000 }];
    const spend = async (id: string, input: number) => {
      const r = await m.reserve({ userId: 'm3', feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 1, lines });
      if (!r.ok) throw new Error('refused');
      await m.settle(r.reservation, [call(id, input, 0)], 'llm', lines);
    };
    await spend('msg_t1', 7_000);
    expect(events).toEqual([]);
    await spend('msg_t2', 1_500); // 85 %
    await spend('msg_t3', 100);
    expect(events).toEqual([{ key: 'user:m3:2026-11', threshold: 0.8 }]);
    await spend('msg_t4', 1_500); // 101 %: the estimate was low; the next call is refused
    await expect(spend('msg_t5', 1)).rejects.toThrow('refused');
    expect(events).toEqual([{ key: 'user:m3:2026-11', threshold: 0.8 }, { key: 'user:m3:2026-11', threshold: 1 }]);
  });

  it('notifies a budget exhausted when it refuses a call short of its cap, once', async () => {
    // No call's worst case fits in the 5 % left: spend never reaches 100 %, and the exhausted
    // notice (the only one a learner's own budget gets) never came.
    const events: { key: string; threshold: number; refused?: true; spentMicros: number }[] = [];
    const m = new MeteringService(ts.store, prices, clock, (e) => events.push({ key: e.key, threshold: e.threshold, spentMicros: e.spentMicros, ...(e.refused ? { refused: e.refused } : {}) }));
    const lines = [{ key: 'user:m6:2026-11', capMicros: 10_000 }];
    const r = await m.reserve({ userId: 'm6', feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 2_000, lines });
    if (!r.ok) throw new Error('refused');
    await m.settle(r.reservation, [call('msg_r1', 9_500, 0)], 'llm', lines); // 95 %
    for (let i = 0; i < 3; i++) expect(await m.reserve({ userId: 'm6', feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 2_000, lines })).toEqual({ ok: false, refusedKey: 'user:m6:2026-11' });
    expect(events).toEqual([
      { key: 'user:m6:2026-11', threshold: 0.8, spentMicros: 9_500 },
      { key: 'user:m6:2026-11', threshold: 1, spentMicros: 9_500, refused: true },
    ]);
  });

  it('adds batch results, which had no reservation, to the shared daily budgets they were billed on, even past a cap', async () => {
    const at = Date.parse('2026-11-28T23:59:59.500Z');
    const lines = [
      { key: 'feature:grading:2026-11-28', capMicros: 1_000 },
      { key: 'global:2026-11-28', capMicros: 1_000_000 },
    ];
    const batchCall = { ...call('msg_batch_1', 1000, 200), batch: true };
    const s = await metering.recordUnreserved({ userId: 'system:batch', feature: 'grading', at, lines }, [batchCall], 'batch');
    expect(s.costUsd).toBe(1000 / 1e6); // (1000 + 200 * 5) at half price
    await metering.recordUnreserved({ userId: 'system:batch', feature: 'grading', at, lines }, [{ ...call('msg_batch_2', 2000, 0), batch: true }], 'batch');
    const budgets = await new BudgetRepository(ts.store.db).read(lines.map((l) => l.key));
    expect(budgets.get('feature:grading:2026-11-28')).toEqual({ spent: 2000, reserved: 0 });
    expect(budgets.get('global:2026-11-28')).toEqual({ spent: 2000, reserved: 0 });
    // The row falls on the day the budgets were charged for.
    const row = await ts.store.db.selectFrom('usage_ledger').selectAll().where('message_id', '=', 'msg_batch_1').executeTakeFirstOrThrow();
    expect([row.day, row.status, Number(row.cost_micros), Number(row.batch)]).toEqual(['2026-11-28', 'settled', 1000, 1]);
    // The spent grading budget now refuses that day's premium calls.
    const r = await metering.reserve({ userId: 'm9', feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 1, lines, at });
    expect(r).toEqual({ ok: false, refusedKey: 'feature:grading:2026-11-28' });
  });

  it('reconciles a pending row left by a crash at its reserved amount', async () => {
    const lines = [{ key: 'user:m2:2026-11', capMicros: 1_000_000 }];
    const r = await metering.reserve({ userId: 'm2', feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 7_000, lines });
    expect(r.ok).toBe(true);
    clock.advance(10 * 60_000);
    expect(await metering.reconcile(5 * 60_000)).toBe(1);
    expect(await metering.reconcile(5 * 60_000)).toBe(0);
    const budget = (await new BudgetRepository(ts.store.db).read(['user:m2:2026-11'])).get('user:m2:2026-11');
    expect(budget).toEqual({ spent: 7000, reserved: 0 });
    // The ledger row and the daily roll-up carry the same charge as the budget.
    const rows = await ts.store.db.selectFrom('usage_ledger').select(['status', 'outcome', 'cost_micros']).where('user_id', '=', 'm2').execute();
    expect(rows.map((x) => [x.status, x.outcome, Number(x.cost_micros)])).toEqual([['settled', 'unknown_after_crash', 7000]]);
    const daily = await ts.store.db.selectFrom('usage_daily').select('cost_micros').where('user_id', '=', 'm2').execute();
    expect(daily.map((d) => Number(d.cost_micros))).toEqual([7000]);
  });
});

describe('budget under concurrency: 3 instances on one Postgres', () => {
  let ts: TestStore;
  const stores: Store[] = [];
  beforeAll(async () => {
    ts = await openTestStore('postgres');
    await insertUsers(ts.store.db, [...Array.from({ length: 200 }, (_, i) => `c${i}`), ...Array.from({ length: 10 }, (_, i) => `d${i}`)]);
    for (let i = 0; i < 3; i++) stores.push(openStore(ts.url, { poolSize: 10 }));
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await ts.cleanup();
  });

  it('200 concurrent reservations against a budget that covers 20: exactly 20 pass, spend never exceeds the cap', async () => {
    const clock = new ManualClock();
    const instances = stores.map((s) => new MeteringService(s, prices, clock));
    const cap = 20 * 10_000;
    const lines = [{ key: 'global:2026-11-27', capMicros: cap }];
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const m = instances[i % 3]!;
        const r = await m.reserve({ userId: `c${i}`, feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 10_000, lines });
        if (!r.ok) return 'refused';
        await m.settle(r.reservation, [call(`msg_c${i}`, 2000, 1600)], 'llm'); // 10,000 µ$: the worst case came true
        return 'ok';
      }),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(20);
    const budget = (await new BudgetRepository(ts.store.db).read(['global:2026-11-27'])).get('global:2026-11-27')!;
    expect(budget.reserved).toBe(0);
    expect(budget.spent).toBe(20 * 10_000);
    expect(budget.spent).toBeLessThanOrEqual(cap);
    const ledger = await new UsageLedgerRepository(ts.store.db).settledRows();
    expect(ledger.filter((r) => r.outcome === 'ok')).toHaveLength(20);
  });

  it('calls sharing two of their three budget lines reserve and settle all at once without deadlock, every counter exact', async () => {
    const clock = new ManualClock();
    const instances = stores.map((s) => new MeteringService(s, prices, clock));
    const shared = [
      { key: 'global:2026-11-29', capMicros: 1e12 },
      { key: 'feature:grading:2026-11-29', capMicros: 1e12 },
    ];
    const users = 10;
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const m = instances[i % 3]!;
        // Each call lists its lines in another order; the store must lock them in one.
        const own = { key: `user:d${i % users}:2026-11`, capMicros: 1e12 };
        const lines = i % 2 ? [own, ...shared] : [...shared].reverse().concat(own);
        const r = await m.reserve({ userId: `d${i % users}`, feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 10_000, lines });
        if (!r.ok) return 'refused';
        await m.settle(r.reservation, [call(`msg_d${i}`, 1000, 500)], 'llm');
        return 'ok';
      }),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(200);
    const perCall = (await new UsageLedgerRepository(ts.store.db).settledRows()).find((r) => r.message_id === 'msg_d0')!;
    const cost = Number(perCall.cost_micros);
    expect(cost).toBeGreaterThan(0);
    const keys = [...shared.map((l) => l.key), ...Array.from({ length: users }, (_, u) => `user:d${u}:2026-11`)];
    const budgets = await new BudgetRepository(ts.store.db).read(keys);
    expect(budgets.get('global:2026-11-29')).toEqual({ spent: 200 * cost, reserved: 0 });
    expect(budgets.get('feature:grading:2026-11-29')).toEqual({ spent: 200 * cost, reserved: 0 });
    for (let u = 0; u < users; u++) expect(budgets.get(`user:d${u}:2026-11`)).toEqual({ spent: 20 * cost, reserved: 0 });
  });
});
