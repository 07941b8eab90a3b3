import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/platform/policy.js';
import { budgetLines, sharedBudgetLines } from '../../src/features/usage/budget-policy.js';
import { MeteringService, type MeteredCall, type Reservation } from '../../src/features/usage/metering.service.js';
import { PriceBook, type TokenUsage } from '../../src/features/usage/price-book.js';
import { UsageAnalyticsRepository } from '../../src/features/usage/usage-analytics.repository.js';
import { insertUsers, openTestStore, type TestStore } from '../helpers/databases.js';
import { ManualClock } from '../helpers/test-app.js';

// Every way the books are written (reserve, settle with 0..3 calls priced now or priced
// earlier as the premium pipeline does, a retried settle, release, a crash left to start-up
// reconciliation, batch results without a reservation), interleaved at random across UTC
// midnights and a month end. After each run, four views of the money must agree to the
// micro-dollar: the ledger, the budget counters, the daily roll-up, the admin usage report,
// and every cost must be the price list's for the row's tokens.

const policy = parsePolicy({ budgets: { perUserMonthlyUsd: { premium: 50 }, perFeatureDailyUsd: { grading: 40, learning_path: 40 }, globalDailyUsd: 60 } });
const prices = new PriceBook(policy.prices);
const USERS = ['u1', 'u2', 'u3'] as const;
const FEATURES = ['grading', 'learning_path'] as const;
const MODEL = { grading: 'claude-haiku-4-5', learning_path: 'claude-sonnet-4-6' } as const;

const usageArb: fc.Arbitrary<TokenUsage> = fc.record({
  inputTokens: fc.nat({ max: 20_000 }),
  outputTokens: fc.nat({ max: 4_000 }),
  cacheWrite5mTokens: fc.nat({ max: 8_000 }),
  cacheWrite1hTokens: fc.nat({ max: 8_000 }),
  cacheReadTokens: fc.nat({ max: 50_000 }),
  inferenceGeo: fc.constantFrom(undefined, 'global', 'us'),
}).map(({ inferenceGeo, ...u }) => (inferenceGeo ? { ...u, inferenceGeo } : u));

const callArb = fc.record({ usage: usageArb, outcome: fc.constantFrom('ok', 'ok', 'upstream_invalid_output', 'upstream_timeout'), dated: fc.boolean() });

type Op =
  | { op: 'reserve'; user: number; feature: number; worst: number }
  | { op: 'settle'; pick: number; calls: { usage: TokenUsage; outcome: string; dated: boolean }[]; pricedEarlier: boolean }
  | { op: 'resettle'; pick: number }
  | { op: 'release'; pick: number }
  | { op: 'crash'; pick: number }
  | { op: 'batch'; user: number; usage: TokenUsage }
  | { op: 'advance'; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('reserve' as const), user: fc.nat({ max: 2 }), feature: fc.nat({ max: 1 }), worst: fc.integer({ min: 1, max: 3_000_000 }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('settle' as const), pick: fc.nat(), calls: fc.array(callArb, { maxLength: 3 }), pricedEarlier: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('resettle' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('crash' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('batch' as const), user: fc.nat({ max: 2 }), usage: usageArb }) },
  // From a minute to a day and a half: runs cross midnights, and the month end below.
  { weight: 2, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 60_000, max: 36 * 3_600_000 }) }) },
);

async function runOnce(ops: Op[], start: number): Promise<void> {
  const ts: TestStore = await openTestStore('sqlite');
  try {
    // Batches are billed to a user who exists (a learner erased since goes under their pseudonym).
    await insertUsers(ts.store.db, [...USERS, ...USERS.map((u) => `batch-${u}`)]);
    const clock = new ManualClock(start);
    const metering = new MeteringService(ts.store, prices, clock);
    const db = ts.store.db;
    const open: Reservation[] = [];
    const done: { r: Reservation; calls: MeteredCall[] }[] = [];
    const crashed: Reservation[] = [];
    const batched: MeteredCall[] = [];
    let n = 0;
    for (const o of ops) {
      if (o.op === 'advance') clock.advance(o.ms);
      else if (o.op === 'reserve') {
        const now = clock.now();
        const user = USERS[o.user]!;
        const feature = FEATURES[o.feature]!;
        const lines = budgetLines(policy, { userId: user, tier: 'premium', feature }, now);
        const r = await metering.reserve({ userId: user, feature, model: MODEL[feature], worstCaseMicros: o.worst, lines, at: now });
        if (r.ok) open.push(r.reservation);
      } else if (o.op === 'settle' && open.length) {
        const [r] = open.splice(o.pick % open.length, 1) as [Reservation];
        const model = MODEL[r.feature as keyof typeof MODEL];
        const calls: MeteredCall[] = o.calls.map((c) => ({ model: c.dated ? `${model}-20991231` : model, messageId: `msg_${++n}`, latencyMs: 3, usage: c.usage, outcome: c.outcome }));
        if (o.pricedEarlier) {
          const bill = metering.price(calls);
          clock.advance(1); // the books are written after the answer
          await metering.settlePriced(r, bill, 'llm');
        } else await metering.settle(r, calls, 'llm');
        done.push({ r, calls });
      } else if (o.op === 'resettle' && done.length) {
        const d = done[o.pick % done.length]!;
        await metering.settle(d.r, d.calls, 'llm'); // a retried settle counts nothing
      } else if (o.op === 'release' && open.length) {
        const [r] = open.splice(o.pick % open.length, 1) as [Reservation];
        await metering.release(r);
      } else if (o.op === 'crash' && open.length) {
        crashed.push(...open.splice(o.pick % open.length, 1));
      } else if (o.op === 'batch') {
        // As grade-batch meters a result: charged to the grading and global daily budgets of now.
        const c: MeteredCall = { model: 'claude-haiku-4-5-20251001', messageId: `msg_${++n}`, latencyMs: 0, usage: o.usage, outcome: 'ok', batch: true };
        batched.push(c);
        const at = clock.now();
        await metering.recordUnreserved({ userId: `batch-${USERS[o.user]}`, feature: 'grading', at, lines: sharedBudgetLines(policy, 'grading', at) }, [c], 'batch');
      }
    }
    // What is still open is a call in flight: its hold is the whole reserved amount.
    const counters0 = await db.selectFrom('budget_counters').selectAll().execute();
    const heldByKey = new Map<string, number>();
    for (const r of [...open, ...crashed]) for (const k of r.keys) heldByKey.set(k, (heldByKey.get(k) ?? 0) + r.reservedMicros);
    for (const c of counters0) expect(Number(c.reserved_micros), `reserved on ${c.key}`).toBe(heldByKey.get(c.key) ?? 0);

    // The process dies: start-up reconciliation charges every pending reservation in full.
    clock.advance(3_600_000);
    await metering.reconcile(60_000);

    const rows = await db.selectFrom('usage_ledger').selectAll().execute();
    expect(rows.filter((r) => r.status !== 'settled')).toEqual([]);
    // Each row's cost is the price list's for its tokens (batch at half price; a crashed call at its hold).
    for (const r of rows) {
      if (r.outcome === 'unknown_after_crash') {
        expect(Number(r.cost_micros)).toBe(Number(r.reserved_micros));
        continue;
      }
      if (r.outcome === 'no_call') {
        expect(Number(r.cost_micros)).toBe(0);
        continue;
      }
    }
    for (const d of done) {
      for (const c of d.calls) {
        const row = rows.find((r) => r.message_id === c.messageId)!;
        expect(row, `ledger row of ${c.messageId}`).toBeDefined();
        expect(Number(row.cost_micros)).toBe(prices.cost(c.model, c.usage, Number(row.settled_at)).costMicros);
      }
    }

    for (const c of batched) {
      const row = rows.find((r) => r.message_id === c.messageId)!;
      expect(Number(row.cost_micros), 'a batch result at half price').toBe(prices.cost(c.model, c.usage, Number(row.settled_at), true).costMicros);
    }

    // Budget counters: nothing held, each spent exactly the cost of the rows on its periods
    // (batch results count against the shared daily budgets, not a learner's month).
    const expected = new Map<string, number>();
    for (const r of rows) {
      const keys = [`feature:${r.feature}:${r.day}`, `global:${r.day}`];
      if (r.source !== 'batch') keys.push(`user:${r.user_id}:${r.day.slice(0, 7)}`);
      for (const key of keys) expected.set(key, (expected.get(key) ?? 0) + Number(r.cost_micros));
    }
    const counters = await db.selectFrom('budget_counters').selectAll().execute();
    for (const c of counters) {
      expect(Number(c.reserved_micros), `reserved on ${c.key}`).toBe(0);
      expect(Number(c.spent_micros), `spent on ${c.key}`).toBe(expected.get(c.key) ?? 0);
    }
    for (const [key, spent] of expected) if (spent > 0) expect(counters.some((c) => c.key === key), `a counter for ${key}`).toBe(true);

    // Daily roll-up: per day, user, feature and model, the ledger's calls, tokens and cost.
    const group = new Map<string, { calls: number; input: number; output: number; write: number; read: number; cost: number }>();
    for (const r of rows.filter((x) => x.outcome !== 'no_call')) {
      const k = [r.day, r.user_id, r.feature, r.model].join('|');
      const g = group.get(k) ?? { calls: 0, input: 0, output: 0, write: 0, read: 0, cost: 0 };
      g.calls += 1;
      g.input += Number(r.input_tokens);
      g.output += Number(r.output_tokens);
      g.write += Number(r.cache_write_5m_tokens) + Number(r.cache_write_1h_tokens);
      g.read += Number(r.cache_read_tokens);
      g.cost += Number(r.cost_micros);
      group.set(k, g);
    }
    const daily = await db.selectFrom('usage_daily').selectAll().execute();
    const rolled = new Map(daily.map((d) => [[d.day, d.user_id, d.feature, d.model].join('|'), { calls: Number(d.calls), input: Number(d.input_tokens), output: Number(d.output_tokens), write: Number(d.cache_write_tokens), read: Number(d.cache_read_tokens), cost: Number(d.cost_micros) }]));
    expect(rolled).toEqual(group);

    // The admin usage report (what GET /v1/admin/usage serves) adds up to the ledger.
    const report = await new UsageAnalyticsRepository(db).grouped({ groupBy: ['user', 'feature', 'model', 'day'], from: '2000-01-01', to: '2999-12-31' });
    const reported = new Map(report.map((r) => [[r.day, r.user, r.feature, r.model].join('|'), Math.round(r.costUsd * 1e6)]));
    expect(reported).toEqual(new Map([...group].map(([k, g]) => [k, g.cost])));
    const total = rows.reduce((s, r) => s + Number(r.cost_micros), 0);
    expect(report.reduce((s, r) => s + Math.round(r.costUsd * 1e6), 0)).toBe(total);
  } finally {
    await ts.cleanup();
  }
}

describe('the books agree under random interleavings (fast-check)', () => {
  it('ledger == budget counters == daily roll-up == admin report, every cost from the price list, across midnights and a month end', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), fc.constantFrom(Date.parse('2026-11-29T22:00:00Z'), Date.parse('2026-12-31T20:30:00Z'), Date.parse('2027-02-27T23:59:00Z')), runOnce),
      { numRuns: 60 },
    );
  }, 120_000);
});
