import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { erasedPseudonym } from '../../src/features/privacy/personal-data.service.js';
import { gradeBatch } from '../../src/features/grading/grade-batch.js';
import { budgetLines, sharedBudgetLines } from '../../src/features/usage/budget-policy.js';
import { UsageLedgerRepository } from '../../src/features/usage/usage-ledger.repository.js';
import { UserErasedError, type MeteredCall, type MeteringService } from '../../src/features/usage/metering.service.js';
import type { Db } from '../../src/platform/db/database.js';
import { openLockSessions, openTestStore, STORE_KINDS, type LockSessions, type TestStore } from '../helpers/databases.js';
import { deferred, rowsNaming, until } from '../helpers/erasure.js';
import { createSimulatedApp } from '../helpers/simulated-app.js';
import { bearer, type TestApp } from '../helpers/test-app.js';

// An erasure racing the learner's own requests (ADR 0016): a request that authenticated
// before the erasure must not write under the learner's id after it, and the books (ledger,
// daily roll-up, budget counters) must still agree. Each interleaving is forced: a request
// held at its reservation by a hook, or (Postgres) the erasure held inside its transaction
// by a row lock another session keeps, with the test watching pg_stat_activity for waiters.

// Ledger == roll-up == budget counters, whoever the rows name.
async function expectBooksAgree(db: Db) {
  const n = (v: unknown) => Number(v ?? 0);
  const ledger = await db
    .selectFrom('usage_ledger')
    .select(['day', sql<number>`count(*)`.as('calls'), sql<number>`sum(cost_micros)`.as('cost')])
    .where('status', '=', 'settled')
    .where('outcome', '!=', 'no_call')
    .groupBy('day')
    .orderBy('day')
    .execute();
  const daily = await db.selectFrom('usage_daily').select(['day', sql<number>`sum(calls)`.as('calls'), sql<number>`sum(cost_micros)`.as('cost')]).groupBy('day').orderBy('day').execute();
  expect(daily.map((d) => [d.day, n(d.calls), n(d.cost)])).toEqual(ledger.map((l) => [l.day, n(l.calls), n(l.cost)]));
  const pending = await db.selectFrom('usage_ledger').select(sql<number>`count(*)`.as('n')).where('status', '=', 'pending').executeTakeFirstOrThrow();
  expect(n(pending.n)).toBe(0);
  const counters = await db.selectFrom('budget_counters').select(['key', 'spent_micros', 'reserved_micros']).execute();
  for (const c of counters) expect(n(c.reserved_micros), c.key).toBe(0);
  for (const l of ledger) {
    const global = counters.find((c) => c.key === `global:${l.day}`);
    expect(n(global?.spent_micros)).toBe(n(l.cost));
  }
}

const body = (answer: string) => ({ question: 'Why does a puddle dry up?', referenceAnswer: 'The water evaporates into the air.', answer });

describe.each(STORE_KINDS)('erasure racing a request in flight (%s)', (kind) => {
  let ts: TestStore;
  let t: TestApp & { sim: { script: { when(match: string, reply: object): void }; charges: { id: string; batch?: boolean }[] } };
  let admin: string;
  let seq = 0;

  beforeAll(async () => {
    ts = await openTestStore(kind);
    t = await createSimulatedApp({ store: ts });
    t.sim.script.when('<student_answer>', {
      json: { criteria: [{ criterionId: 'correctness', levelId: 'correct', evidence: [], justification: 'Names evaporation.' }], feedback: { strengths: ['Clear.'], improve: ['Say where it goes.'], nextStep: 'Explain heat.' }, confidence: 0.9 },
    });
    admin = await t.premium(`race-admin-${kind}`, ['admin']);
  });
  afterAll(async () => {
    await t.close();
    await ts.cleanup();
  });

  // A learner with a graded answer behind them (a settled call, its roll-up, their budget).
  async function learnerWithHistory() {
    const id = `race_learner.${kind}.${++seq}@example.org`;
    const key = await t.premium(id);
    const first = await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: body(`It evaporates, says ${id}.`) });
    expect(first.json().source).toBe('llm');
    await t.container.deferred.drain();
    expect(await t.store.db.selectFrom('usage_daily').select('user_id').where('user_id', '=', id).execute()).toHaveLength(1);
    return { id, key };
  }

  // Holds the learner's next reservation until released, as a request delayed between its
  // authentication and its reservation would be.
  function holdNextReservation(userId: string) {
    const metering = t.container.metering as MeteringService;
    const reserve = metering.reserve.bind(metering);
    const reached = deferred();
    const release = deferred();
    metering.reserve = async (p) => {
      if (p.userId === userId) {
        metering.reserve = reserve;
        reached.resolve();
        await release.promise;
      }
      return reserve(p);
    };
    return { reached: reached.promise, release: release.resolve };
  }

  it('a request that authenticated before the erasure reserves nothing after it: 401, no row under the id, the books agree', async () => {
    const { id, key } = await learnerWithHistory();
    const hold = holdNextReservation(id);
    const inFlight = t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: body(`Heat makes it evaporate, ${id}.`) });
    await hold.reached;

    const erased = await t.app.inject({ method: 'DELETE', url: `/v1/admin/users/${encodeURIComponent(id)}`, headers: bearer(admin) });
    expect(erased.statusCode).toBe(200);
    hold.release();
    const answered = await inFlight;
    await t.container.deferred.drain();

    expect(answered.statusCode).toBe(401);
    expect(await rowsNaming(t.store.db, kind, id)).toEqual([]);
    expect(await t.store.db.selectFrom('usage_daily').select('user_id').where('user_id', '=', erasedPseudonym(id)).execute()).toHaveLength(1);
    await expectBooksAgree(t.store.db);
  });

  it('a pending row found under the pseudonym (left by an erasure before this check) settles under the pseudonym', async () => {
    const { id } = await learnerWithHistory();
    const { metering, policy, clock } = t.container;
    const lines = budgetLines(policy, { userId: id, tier: 'premium', feature: 'grading' }, clock.now());
    const r = await metering.reserve({ userId: id, feature: 'grading', model: policy.models.grading!, worstCaseMicros: 20_000, lines });
    if (!r.ok) throw new Error('refused');
    // What an erasure that pseudonymised a pending row left behind (its usage rows; the rest
    // of the learner's data does not matter to the settlement).
    await t.store.db.updateTable('usage_ledger').set({ user_id: erasedPseudonym(id) }).where('user_id', '=', id).execute();
    await t.store.db.updateTable('usage_daily').set({ user_id: erasedPseudonym(id) }).where('user_id', '=', id).execute();

    const call: MeteredCall = { model: policy.models.grading!, messageId: `msg_legacy_${kind}`, latencyMs: 5, outcome: 'ok', usage: { inputTokens: 300, outputTokens: 90, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, cacheReadTokens: 0 } };
    await metering.settle(r.reservation, [call, { ...call, messageId: `msg_legacy_${kind}_repair` }], 'llm', lines);

    expect(await t.store.db.selectFrom('usage_ledger').select('id').where('user_id', '=', id).execute()).toEqual([]);
    expect(await t.store.db.selectFrom('usage_daily').select('day').where('user_id', '=', id).execute()).toEqual([]);
    const ledger = await t.store.db.selectFrom('usage_ledger').select('user_id').where('user_id', '=', erasedPseudonym(id)).execute();
    expect(ledger).toHaveLength(3); // the first answer, and the settlement's two calls
  });

  it('a batch billed to the learner whose results are collected after the erasure books them under the pseudonym: spend kept, nothing names the id, the books agree', async () => {
    const { id } = await learnerWithHistory();
    const dir = mkdtempSync(join(tmpdir(), 'tg-race-batch-'));
    const file = join(dir, 'class.csv');
    writeFileSync(file, 'id,answer\ns1,"The sun heats the water, so it evaporates."\ns2,It soaked into the ground.\n');
    const batches = t.container.llm.batches;
    let erased: number | undefined;
    // The erasure lands while the batch runs: after it was created, before its results are read.
    const llm = {
      batches: {
        ...batches,
        create: batches.create.bind(batches),
        retrieve: batches.retrieve.bind(batches),
        list: batches.list.bind(batches),
        results: async function* (batchId: string) {
          erased ??= (await t.app.inject({ method: 'DELETE', url: `/v1/admin/users/${encodeURIComponent(id)}`, headers: bearer(admin) })).statusCode;
          yield* batches.results(batchId);
        },
      },
    };
    const charged = t.sim.charges.length;
    const r = await gradeBatch(file, await t.container.grading.service.rubric('demo-evaporation'), join(dir, 'out.jsonl'), {
      llm,
      metering: t.container.metering,
      ledger: new UsageLedgerRepository(t.store.db),
      progress: () => {},
      notice: () => {},
      sleep: (ms) => new Promise((res) => setTimeout(res, ms)),
      now: () => t.container.clock.now(),
      pollMs: 5,
      userId: id,
      budgetLines: (at) => sharedBudgetLines(t.container.policy, 'grading', at),
      maxTokens: 1024,
    });
    expect(erased).toBe(200);
    expect(r.rows).toHaveLength(2);
    const batchCharges = t.sim.charges.slice(charged).filter((c) => c.batch);
    expect(batchCharges).toHaveLength(2);

    expect(await rowsNaming(t.store.db, kind, id)).toEqual([]);
    const billed = await t.store.db.selectFrom('usage_ledger').select('message_id').where('user_id', '=', erasedPseudonym(id)).where('batch', '=', 1).execute();
    expect(billed.map((x) => x.message_id).sort()).toEqual(batchCharges.map((c) => c.id).sort());
    expect(await t.store.db.selectFrom('usage_daily').select('user_id').where('user_id', '=', id).execute()).toEqual([]);
    await expectBooksAgree(t.store.db);
  });
});

describe('erasure racing a reservation inside its transaction (postgres)', () => {
  let ts: TestStore;
  let t: TestApp;
  let admin: string;
  let locks: LockSessions;

  beforeAll(async () => {
    ts = await openTestStore('postgres');
    t = await createSimulatedApp({ store: ts });
    admin = await t.premium('race-admin-pg', ['admin']);
    locks = await openLockSessions(ts.url);
  });
  afterAll(async () => {
    await locks.end();
    await t.close();
    await ts.cleanup();
  });

  const lockWaiters = () => locks.lockWaiters();

  it('a reservation made while the erasure is between its check and its writes is refused; the erasure commits; nothing names the id', async () => {
    const id = 'race_pg.learner@example.org';
    const { metering, policy, clock } = t.container;
    const key = await t.premium(id);
    const model = policy.models.grading!;
    const lines = budgetLines(policy, { userId: id, tier: 'premium', feature: 'grading' }, clock.now());
    const call = (n: number): MeteredCall => ({ model, messageId: `msg_pg_race_${n}`, latencyMs: 5, outcome: 'ok', usage: { inputTokens: 200 + n, outputTokens: 80, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, cacheReadTokens: 0 } });
    const first = await metering.reserve({ userId: id, feature: 'grading', model, worstCaseMicros: 20_000, lines });
    if (!first.ok) throw new Error('refused');
    await metering.settle(first.reservation, [call(1)], 'llm', lines);
    expect(key).toBeTruthy();

    // Another session holds the learner's roll-up row: the erasure, past its check for calls
    // in flight, waits there inside its transaction.
    await locks.blocker.query('begin');
    await locks.blocker.query('select * from usage_daily where user_id = $1 for update', [id]);
    const erasure = t.app.inject({ method: 'DELETE', url: `/v1/admin/users/${encodeURIComponent(id)}`, headers: bearer(admin) });
    await until(async () => (await lockWaiters()) >= 1);

    // The request that authenticated before the erasure reserves now.
    let outcome: { ok: true; value: Awaited<ReturnType<typeof metering.reserve>> } | { ok: false; error: unknown } | undefined;
    const reservation = metering.reserve({ userId: id, feature: 'grading', model, worstCaseMicros: 20_000, lines }).then(
      (value) => (outcome = { ok: true, value }),
      (error: unknown) => (outcome = { ok: false, error }),
    );
    // Either it waits on the erasure (a second waiter) or it went through.
    await until(async () => outcome !== undefined || (await lockWaiters()) >= 2);
    await locks.blocker.query('commit');

    const erased = await erasure;
    expect(erased.statusCode).toBe(200);
    await reservation;
    // As the pipeline would: a granted reservation is settled with its call.
    if (outcome?.ok && outcome.value.ok) await metering.settle(outcome.value.reservation, [call(2)], 'llm', lines);

    expect(outcome).toMatchObject({ ok: false });
    expect(outcome?.ok === false && outcome.error).toBeInstanceOf(UserErasedError);
    expect(await rowsNaming(t.store.db, 'postgres', id)).toEqual([]);
    await expectBooksAgree(t.store.db);
  });

  it('a reservation that took the user first makes the erasure wait and then refuse with 409; once settled, the erasure goes through', async () => {
    const id = 'race_pg2.learner@example.org';
    const { metering, policy, clock } = t.container;
    await t.premium(id);
    const model = policy.models.grading!;
    const lines = budgetLines(policy, { userId: id, tier: 'premium', feature: 'grading' }, clock.now());

    // Hold the reservation's transaction open after its first statement: the blocker locks
    // the global budget counter, which the reservation updates after the ledger row.
    const global = lines.find((l) => l.key.startsWith('global:'))!.key;
    await t.store.db.insertInto('budget_counters').values({ key: global, spent_micros: 0, reserved_micros: 0, updated_at: 0 }).onConflict((oc) => oc.column('key').doNothing()).execute();
    await locks.blocker.query('begin');
    await locks.blocker.query('select * from budget_counters where key = $1 for update', [global]);
    const reservation = metering.reserve({ userId: id, feature: 'grading', model, worstCaseMicros: 20_000, lines });
    await until(async () => (await lockWaiters()) >= 1);
    let erasureDone = false;
    const erasure = t.app.inject({ method: 'DELETE', url: `/v1/admin/users/${encodeURIComponent(id)}`, headers: bearer(admin) }).finally(() => (erasureDone = true));
    // The erasure waits for the reservation (a second waiter), or it did not and answered.
    await until(async () => erasureDone || (await lockWaiters()) >= 2);
    await locks.blocker.query('commit');

    const r = await reservation;
    expect((await erasure).statusCode).toBe(409);
    if (!r.ok) throw new Error('refused');
    await metering.settle(r.reservation, [{ model, messageId: 'msg_pg_race2', latencyMs: 5, outcome: 'ok', usage: { inputTokens: 100, outputTokens: 10, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, cacheReadTokens: 0 } }], 'llm', lines);
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/admin/users/${encodeURIComponent(id)}`, headers: bearer(admin) })).statusCode).toBe(200);
    expect(await rowsNaming(t.store.db, 'postgres', id)).toEqual([]);
    await expectBooksAgree(t.store.db);
  });
});
