import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/features/identity/billing-webhook.js';
import { openLockSessions, openTestStore, STORE_KINDS, type LockSessions, type TestStore } from '../helpers/databases.js';
import { bearer, createTestApp, TEST_WEBHOOK_SECRET, type TestApp } from '../helpers/test-app.js';

const DAY = 86_400_000;

// Changes to one subscription made at the same time (two admins, two instances, an admin and
// the billing provider) must all count: none may write back a row it read before another
// change landed.
describe.each(STORE_KINDS)('subscription changes at once (%s)', (kind) => {
  let t: TestApp;
  let admin: string;
  beforeAll(async () => {
    t = await createTestApp({ store: kind });
    admin = await t.premium('race-sub-admin', ['admin']);
  });
  afterAll(() => t.close());

  // Holds every read of the subscription until each of `n` changes has read it or answered:
  // a change that reads the row and writes it back then writes over what the others read,
  // as two requests on two instances (or one SQLite instance's interleaved awaits) can.
  // A change made in one statement reads nothing and is never held.
  function readsTogether(n: number) {
    const repo = t.container.identity.repo;
    const read = repo.getSubscription.bind(repo);
    let held: (() => void)[] = [];
    let answered = 0;
    const releaseIfAll = () => {
      if (held.length + answered < n) return;
      for (const go of held) go();
      held = [];
    };
    repo.getSubscription = async (id) => {
      const r = await read(id);
      await new Promise<void>((go) => {
        held.push(go);
        releaseIfAll();
      });
      return r;
    };
    return {
      answered: <T>(p: Promise<T>) =>
        p.finally(() => {
          answered++;
          releaseIfAll();
        }),
      restore: () => (repo.getSubscription = read),
    };
  }

  const post = (userId: string, body: object) => t.app.inject({ method: 'POST', url: `/v1/admin/users/${userId}/subscription`, headers: bearer(admin), payload: body });
  const subscriptionOf = async (userId: string) => (await t.app.inject({ method: 'GET', url: `/v1/admin/users/${userId}/subscription`, headers: bearer(admin) })).json().subscription;

  it('a grant to a user erased between its check and its write answers 404, not a 500', async () => {
    await t.free('grant-erased');
    const repo = t.container.identity.repo;
    const put = repo.putSubscription.bind(repo);
    repo.putSubscription = async (sub) => {
      await t.store.db.deleteFrom('users').where('id', '=', sub.userId).execute(); // the erasure lands here
      return put(sub);
    };
    try {
      const r = await post('grant-erased', { action: 'grant' });
      expect(r.statusCode, r.body).toBe(404);
      expect(r.json()).toMatchObject({ status: 404, code: 'not_found' });
    } finally {
      repo.putSubscription = put;
    }
    expect(await t.store.db.selectFrom('subscriptions').select('user_id').where('user_id', '=', 'grant-erased').execute()).toEqual([]);
  });

  it('four 30-day extensions at once give 120 days', async () => {
    await t.free('ext-many');
    const end = t.clock.now() + 10 * DAY;
    expect((await post('ext-many', { action: 'grant', until: new Date(end).toISOString() })).statusCode).toBe(200);
    const together = readsTogether(4);
    const answers = await Promise.all(Array.from({ length: 4 }, () => together.answered(post('ext-many', { action: 'extend', by: '30d' }))));
    together.restore();
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 200]);
    expect(await subscriptionOf('ext-many')).toMatchObject({ status: 'active', currentPeriodEnd: end + 120 * DAY });
    // Each answer is the row its own change left: four distinct ends.
    expect(new Set(answers.map((a) => a.json().currentPeriodEnd)).size).toBe(4);
  });

  it('a cancel at the same time as extensions keeps every extension', async () => {
    await t.free('ext-cancel');
    const end = t.clock.now() + 10 * DAY;
    expect((await post('ext-cancel', { action: 'grant', until: new Date(end).toISOString() })).statusCode).toBe(200);
    const together = readsTogether(3);
    const answers = await Promise.all([post('ext-cancel', { action: 'extend', by: '30d' }), post('ext-cancel', { action: 'cancel' }), post('ext-cancel', { action: 'extend', by: '30d' })].map(together.answered));
    together.restore();
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200]);
    expect((await subscriptionOf('ext-cancel')).currentPeriodEnd).toBe(end + 60 * DAY);
  });

  it('extensions at once that would together pass the year 9999: those that fit apply, the rest are 422', async () => {
    await t.free('ext-cap');
    const end = Date.UTC(9999, 11, 31) - 45 * DAY;
    expect((await post('ext-cap', { action: 'grant', until: new Date(end).toISOString() })).statusCode).toBe(200);
    const together = readsTogether(3);
    const answers = await Promise.all(Array.from({ length: 3 }, () => together.answered(post('ext-cap', { action: 'extend', by: '20d' }))));
    together.restore();
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 200, 422]);
    expect((await subscriptionOf('ext-cap')).currentPeriodEnd).toBe(end + 40 * DAY);
    expect((await post('nobody-here', { action: 'extend', by: '99999999999999999999d' })).statusCode).toBe(404);
  });
});

describe('a billing event written while another change to the subscription is being committed (postgres)', () => {
  let ts: TestStore;
  let t: TestApp;
  let locks: LockSessions;
  beforeAll(async () => {
    ts = await openTestStore('postgres');
    t = await createTestApp({ store: ts });
    locks = await openLockSessions(ts.url);
  });
  afterAll(async () => {
    await locks.end();
    await t.close();
    await ts.cleanup();
  });

  const nowSec = () => Math.floor(t.clock.now() / 1000);
  const send = (e: object) => {
    const body = JSON.stringify(e);
    const ts = String(nowSec());
    return t.app.inject({ method: 'POST', url: '/v1/webhooks/billing', headers: { 'content-type': 'application/json', 'tutorgate-signature': `t=${ts},v1=${sign(TEST_WEBHOOK_SECRET, ts, body)}` }, payload: body });
  };
  const lockWaiters = () => locks.lockWaiters();

  it('a cancel that arrives while a renewal commits keeps the renewed period end', async () => {
    const user = 'hook-race';
    const created = nowSec() - 100;
    const firstEnd = nowSec() + 10 * 86_400;
    expect((await send({ id: 'evt_r1', type: 'subscription.created', created, data: { userId: user, currentPeriodEnd: firstEnd } })).json().outcome).toBe('applied');

    // Another instance applies a renewal and has not committed yet.
    const renewedEnd = (firstEnd + 30 * 86_400) * 1000;
    await locks.blocker.query('begin');
    await locks.blocker.query(`update subscriptions set status = 'active', current_period_end = $1, last_event_at = $2 where user_id = $3`, [renewedEnd, (created + 10) * 1000, user]);
    let done = false;
    const cancel = send({ id: 'evt_r3', type: 'subscription.canceled', created: created + 20, data: { userId: user } }).finally(() => (done = true));
    while (!done && (await lockWaiters()) < 1) await new Promise((r) => setImmediate(r));
    await locks.blocker.query('commit');

    expect((await cancel).json().outcome).toBe('applied');
    const row = await t.store.db.selectFrom('subscriptions').selectAll().where('user_id', '=', user).executeTakeFirstOrThrow();
    expect({ status: row.status, end: Number(row.current_period_end) }).toEqual({ status: 'canceled', end: renewedEnd });
  });
});
