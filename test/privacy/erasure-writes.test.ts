import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvaluationRow } from '../../src/features/grading/grading.repository.js';
import { applyBillingEvent, type BillingEvent } from '../../src/features/identity/billing-webhook.js';
import { openLockSessions, openTestStore, STORE_KINDS, type LockSessions, type TestStore } from '../helpers/databases.js';
import { holdNextCall, rowsNaming, until } from '../helpers/erasure.js';
import { createSimulatedApp, gradeEveryAnswerValidly } from '../helpers/simulated-app.js';
import { bearer, type TestApp } from '../helpers/test-app.js';

// An erasure racing the writes of a learner's request that reserve no budget (ADR 0016): an
// answer from the cache or the rules, progress, a learning path, a billing event, a batch's
// usage. A write that comes after the erasure must not land under the learner's id. Each
// interleaving is forced: the write held by a hook until the erasure has answered, or (on
// Postgres) the erasure held inside its transaction, past the tables it has already
// cleared, by a row lock another session keeps.

const billing = (id: string, userId: string, type: BillingEvent['type'], createdSec: number): BillingEvent => ({
  id, type, created: createdSec, data: { userId, plan: 'premium', ...(type === 'subscription.created' || type === 'subscription.renewed' ? { currentPeriodEnd: createdSec + 30 * 86_400 } : {}) },
});

const grading = (answer: string) => ({ question: 'Why does a puddle dry up?', referenceAnswer: 'The water evaporates into the air.', answer });

describe.each(STORE_KINDS)('erasure racing a request that reserves nothing (%s)', (kind) => {
  let ts: TestStore;
  let t: TestApp & { sim: Parameters<typeof gradeEveryAnswerValidly>[0] };
  let admin: string;
  let seq = 0;

  beforeAll(async () => {
    ts = await openTestStore(kind);
    t = await createSimulatedApp({ store: ts });
    gradeEveryAnswerValidly(t.sim);
    admin = await t.premium(`writes-admin-${kind}`, ['admin']);
  });
  afterAll(async () => {
    await t.close();
    await ts.cleanup();
  });

  const erase = (id: string) => t.app.inject({ method: 'DELETE', url: `/v1/admin/users/${encodeURIComponent(id)}`, headers: bearer(admin) });
  const nextId = (what: string) => `w_${what}.${kind}.${++seq}@example.org`;

  // The request, held at `hold` until the erasure has answered, then let go: it must be
  // refused as the reservation is (401 problem+json), and nothing may name the learner.
  async function expectRefusedAfterErasure(id: string, hold: { reached: Promise<void>; release(): void }, request: Promise<{ statusCode: number; headers: Record<string, unknown>; json(): { code?: string } }>) {
    await hold.reached;
    expect((await erase(id)).statusCode).toBe(200);
    hold.release();
    const answered = await request;
    expect(answered.statusCode).toBe(401);
    expect(String(answered.headers['content-type'])).toContain('application/problem+json');
    expect(await rowsNaming(t.store.db, kind, id)).toEqual([]);
  }

  const holdEvaluation = (id: string) => holdNextCall(t.container.grading.repo, 'insertEvaluation', (row: EvaluationRow) => row.user_id === id);

  it('a graded answer from the cache, stored after the erasure: 401, and no evaluation under the id', async () => {
    const id = nextId('cached');
    const key = await t.premium(id);
    const first = await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: grading('It evaporates.') });
    expect(first.json().source).toBe('llm');
    await t.container.deferred.drain();
    const hold = holdEvaluation(id);
    await expectRefusedAfterErasure(id, hold, t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: grading('It evaporates.') }));
  });

  it('a graded answer from the rules (their budget spent), stored after the erasure: 401, and no evaluation under the id', async () => {
    const id = nextId('rules');
    const key = await t.premium(id);
    // $0.001 a month: less than one call's worst case, so every answer comes from the rules.
    expect((await t.app.inject({ method: 'PUT', url: `/v1/admin/users/${encodeURIComponent(id)}/budget`, headers: bearer(admin), payload: { monthlyUsd: 0.001 } })).statusCode).toBe(200);
    const first = await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: grading('The sun heats it.') });
    expect(first.statusCode).toBe(200);
    expect(first.json().source).toBe('rules');
    const hold = holdEvaluation(id);
    await expectRefusedAfterErasure(id, hold, t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: grading('It goes into the air.') }));
  });

  const items = () => t.container.learning.catalogs.get().then(({ catalog }) => catalog.items.map((i) => i.id));

  it('progress posted after the erasure: 401, no event and no learner state under the id', async () => {
    const id = nextId('progress');
    const key = await t.free(id);
    const [item] = await items();
    expect((await t.app.inject({ method: 'POST', url: '/v1/progress/events', headers: bearer(key), payload: { eventId: 'p1', itemId: item, correct: true } })).statusCode).toBe(202);
    const hold = holdNextCall(t.container.learning.repo, 'insertEvents', (rows: { user_id: string }[]) => rows[0]?.user_id === id);
    await expectRefusedAfterErasure(id, hold, t.app.inject({ method: 'POST', url: '/v1/progress/events', headers: bearer(key), payload: { events: [{ eventId: 'p1', itemId: item, correct: true }, { eventId: 'p2', itemId: item, correct: false }] } }));
  });

  it('progress stored just before the erasure: the learner state computed from it is not written back under the id', async () => {
    const id = nextId('state');
    const key = await t.free(id);
    const [item] = await items();
    const hold = holdNextCall(t.container.learning.repo, 'putState', (userId: string) => userId === id);
    const posted = t.app.inject({ method: 'POST', url: '/v1/progress/events', headers: bearer(key), payload: { eventId: 's1', itemId: item, correct: true } });
    await hold.reached;
    expect((await erase(id)).statusCode).toBe(200);
    hold.release();
    // Accepted before the erasure, which then removed it with the rest.
    expect((await posted).statusCode).toBe(202);
    expect(await rowsNaming(t.store.db, kind, id)).toEqual([]);
  });

  it('a learning path answered after the erasure (the rules path of a free learner): 401, no recommendation under the id', async () => {
    const id = nextId('path');
    const key = await t.free(id);
    const first = await t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: bearer(key), payload: { count: 2 } });
    expect(first.json().source).toBe('rules');
    const hold = holdNextCall(t.container.learning.repo, 'insertRecommendation', (r: { userId: string }) => r.userId === id);
    await expectRefusedAfterErasure(id, hold, t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: bearer(key), payload: { count: 2 } }));
  });

  it("after the erasure, the learning repository's writes for the id write nothing", async () => {
    const id = nextId('repo');
    await t.free(id);
    expect((await erase(id)).statusCode).toBe(200);
    const repo = t.container.learning.repo;
    const now = t.clock.now();
    expect(await repo.insertEvents([{ user_id: id, event_id: 'late', item_id: (await items())[0]!, correct: 1, at: now, received_at: now }])).toBeUndefined();
    expect(await repo.putState(id, '{}', now, 1, now)).toBe(false);
    expect(await repo.insertRecommendation({ id: `rec_late_${kind}`, userId: id, experiment: 'learning_path', variant: 'treatment', source: 'rules', itemIds: [], at: now })).toBe(false);
    expect(await repo.recordExposure('learning_path', id, 'treatment', now)).toBe(false);
    expect(await rowsNaming(t.store.db, kind, id)).toEqual([]);
  });

  it('a billing event for an erased learner that changes nothing is kept under no one; one that subscribes them recreates the user and is theirs', async () => {
    const id = nextId('billing');
    await t.premium(id);
    expect((await erase(id)).statusCode).toBe(200);
    const sec = Math.floor(t.clock.now() / 1000);
    expect(await applyBillingEvent(t.store.db, billing(`evt_failed_${kind}_${seq}`, id, 'payment.failed', sec), t.clock.now())).toBe('ignored');
    expect(await rowsNaming(t.store.db, kind, id)).toEqual([]);
    const kept = await t.store.db.selectFrom('webhook_events').select(['user_id', 'type']).where('event_id', '=', `evt_failed_${kind}_${seq}`).executeTakeFirst();
    expect(kept).toEqual({ user_id: null, type: 'payment.failed' }); // a resend stays a duplicate
    expect(await applyBillingEvent(t.store.db, billing(`evt_failed_${kind}_${seq}`, id, 'payment.failed', sec), t.clock.now())).toBe('duplicate');

    // Documented: the payment provider still bills them, so the user is made again, and this event names them.
    expect(await applyBillingEvent(t.store.db, billing(`evt_created_${kind}_${seq}`, id, 'subscription.created', sec + 1), t.clock.now())).toBe('applied');
    const created = await t.store.db.selectFrom('webhook_events').select('user_id').where('event_id', '=', `evt_created_${kind}_${seq}`).executeTakeFirst();
    expect(created?.user_id).toBe(id);
  });

  it('a cancel for an erased learner recreates nobody: recorded under no one, outcome ignored, a resend a duplicate', async () => {
    const id = nextId('cancel');
    await t.premium(id);
    const sec = Math.floor(t.clock.now() / 1000);
    expect(await applyBillingEvent(t.store.db, billing(`evt_sub_${kind}_${seq}`, id, 'subscription.renewed', sec + 1), t.clock.now())).toBe('applied');
    expect((await erase(id)).statusCode).toBe(200);

    const event = billing(`evt_cancel_${kind}_${seq}`, id, 'subscription.canceled', sec + 2);
    expect(await applyBillingEvent(t.store.db, event, t.clock.now())).toBe('ignored');
    expect(await rowsNaming(t.store.db, kind, id)).toEqual([]);
    const kept = await t.store.db.selectFrom('webhook_events').select(['user_id', 'type']).where('event_id', '=', event.id).executeTakeFirst();
    expect(kept).toEqual({ user_id: null, type: 'subscription.canceled' });
    expect(await applyBillingEvent(t.store.db, event, t.clock.now())).toBe('duplicate');
    // A user who stands, with no subscription yet, still gets the cancel recorded on them (control).
    const other = nextId('cancel-standing');
    await t.free(other);
    expect(await applyBillingEvent(t.store.db, billing(`evt_cancel_other_${kind}_${seq}`, other, 'subscription.canceled', sec), t.clock.now())).toBe('applied');
    expect(await t.store.db.selectFrom('subscriptions').select('status').where('user_id', '=', other).executeTakeFirst()).toEqual({ status: 'canceled' });
  });
});

// Postgres: the erasure is held inside its transaction after it has cleared evaluations,
// progress, learner state and recommendations (the blocker locks the learner's exposure row,
// which it deletes after them). A write made then must wait for the erasure (it takes a
// key share of the user's row, which the erasure holds FOR UPDATE) and then write nothing;
// without that it would commit under the id the erasure had already swept.
describe('erasure racing writes inside its transaction (postgres)', () => {
  let ts: TestStore;
  let t: TestApp;
  let admin: string;
  let locks: LockSessions;
  let seq = 0;

  beforeAll(async () => {
    ts = await openTestStore('postgres');
    t = await createSimulatedApp({ store: ts });
    admin = await t.premium('writes-admin-pg', ['admin']);
    locks = await openLockSessions(ts.url);
  });
  afterAll(async () => {
    await locks.end();
    await t.close();
    await ts.cleanup();
  });


  // Runs `write` for a learner while the erasure waits inside its transaction; returns what
  // the write returned (or threw), once the erasure has committed.
  async function writeDuringErasure<R>(id: string, write: () => Promise<R>): Promise<{ ok: true; value: R } | { ok: false; error: unknown }> {
    await t.container.learning.repo.recordExposure('learning_path', id, 'treatment', t.clock.now());
    await locks.blocker.query('begin');
    await locks.blocker.query('select * from experiment_exposures where user_id = $1 for update', [id]);
    const erasure = t.app.inject({ method: 'DELETE', url: `/v1/admin/users/${encodeURIComponent(id)}`, headers: bearer(admin) });
    await until(async () => (await locks.lockWaiters()) >= 1);
    let outcome: { ok: true; value: R } | { ok: false; error: unknown } | undefined;
    const done = write().then(
      (value) => (outcome = { ok: true, value }),
      (error: unknown) => (outcome = { ok: false, error }),
    );
    // Either the write waits on the erasure (a second waiter) or it went through.
    await until(async () => outcome !== undefined || (await locks.lockWaiters()) >= 2);
    await locks.blocker.query('commit');
    expect((await erasure).statusCode).toBe(200);
    await done;
    return outcome!;
  }

  it('an evaluation: not stored (the service answers 401)', async () => {
    const id = `pg_eval.${++seq}@example.org`;
    await t.free(id);
    const row: EvaluationRow = {
      id: `eval_pg_race_${seq}`, user_id: id, rubric_id: 'demo-evaporation', rubric_version: 1, rubric_json: null, question: 'Q', answer: 'It evaporates.', result_json: '{}',
      source: 'rules', confidence: 0.9, review_status: 'none', review_reasons: null, override_json: null, reviewed_by: null, reviewed_at: null, created_at: t.clock.now(),
    };
    const written = await writeDuringErasure(id, () => t.container.grading.repo.insertEvaluation(row));
    expect(await rowsNaming(t.store.db, 'postgres', id)).toEqual([]);
    expect(written).toEqual({ ok: true, value: false });
  });

  it('progress events: not stored (the service answers 401)', async () => {
    const id = `pg_events.${++seq}@example.org`;
    await t.free(id);
    const now = t.clock.now();
    const item = (await t.container.learning.catalogs.get()).catalog.items[0]!.id;
    const written = await writeDuringErasure(id, () => t.container.learning.repo.insertEvents([{ user_id: id, event_id: 'e1', item_id: item, correct: 1, at: now, received_at: now }]));
    expect(await rowsNaming(t.store.db, 'postgres', id)).toEqual([]);
    expect(written).toEqual({ ok: true, value: undefined });
  });

  it('a learner state, a recommendation and an exposure: none written', async () => {
    const id = `pg_path.${++seq}@example.org`;
    await t.free(id);
    const repo = t.container.learning.repo;
    const now = t.clock.now();
    const written = await writeDuringErasure(id, () =>
      Promise.all([
        repo.putState(id, '{}', now, 1, now),
        repo.insertRecommendation({ id: `rec_pg_${seq}`, userId: id, experiment: 'learning_path', variant: 'treatment', source: 'rules', itemIds: [], at: now }),
        repo.recordExposure('learning_path', id, 'control', now),
      ]),
    );
    expect(await rowsNaming(t.store.db, 'postgres', id)).toEqual([]);
    expect(written).toEqual({ ok: true, value: [false, false, false] });
  });

  it.each([
    ['a billing event', 'payment.failed'],
    ['a cancel', 'subscription.canceled'],
  ] as const)('%s: kept under no one, and the erasure is not undone', async (_what, type) => {
    const id = `pg_${type}.${++seq}@example.org`;
    await t.premium(id);
    const sec = Math.floor(t.clock.now() / 1000);
    const written = await writeDuringErasure(id, () => applyBillingEvent(t.store.db, billing(`evt_pg_${type}_${seq}`, id, type, sec), t.clock.now()));
    expect(await rowsNaming(t.store.db, 'postgres', id)).toEqual([]);
    expect(written).toEqual({ ok: true, value: 'ignored' });
  });
});
