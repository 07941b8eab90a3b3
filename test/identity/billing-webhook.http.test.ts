import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/features/identity/billing-webhook.js';
import { bearer, createTestApp, TEST_WEBHOOK_SECRET, type TestApp } from '../helpers/test-app.js';

describe('billing webhook', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const nowSec = () => Math.floor(t.clock.now() / 1000);
  const event = (id: string, type: string, userId: string, created = nowSec()) =>
    JSON.stringify({ id, type, created, data: { userId, currentPeriodEnd: nowSec() + 30 * 86400 } });
  const send = (body: string, opts: { secret?: string; t?: number; header?: string } = {}) => {
    const ts = String(opts.t ?? nowSec());
    const header = opts.header ?? `t=${ts},v1=${sign(opts.secret ?? TEST_WEBHOOK_SECRET, ts, body)}`;
    return t.app.inject({ method: 'POST', url: '/v1/webhooks/billing', headers: { 'content-type': 'application/json', 'tutorgate-signature': header }, payload: body });
  };
  const tierOf = async (key: string) => (await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(key) })).json().tier;

  it('upgrades on a valid created event and downgrades on the next request after cancel', async () => {
    const key = await t.free('fay');
    expect((await send(event('evt_1', 'subscription.created', 'fay'))).json()).toEqual({ received: true, outcome: 'applied' });
    expect(await tierOf(key)).toBe('premium');
    expect((await send(event('evt_2', 'subscription.canceled', 'fay', nowSec() + 1))).statusCode).toBe(200);
    expect(await tierOf(key)).toBe('free');
  });

  it('a cancel for a user who is not here (never provisioned, or erased) is recorded and ignored, and creates nobody; a subscription still does', async () => {
    const res = await send(event('evt_nobody_1', 'subscription.canceled', 'nobody.here'));
    expect(res.json()).toEqual({ received: true, outcome: 'ignored' });
    expect(await t.store.db.selectFrom('users').select('id').where('id', '=', 'nobody.here').execute()).toEqual([]);
    expect(await t.store.db.selectFrom('webhook_events').select(['user_id', 'type']).where('event_id', '=', 'evt_nobody_1').execute()).toEqual([{ user_id: null, type: 'subscription.canceled' }]);
    expect((await send(event('evt_nobody_1', 'subscription.canceled', 'nobody.here'))).json().outcome).toBe('duplicate');
    expect((await send(event('evt_nobody_2', 'subscription.created', 'nobody.here', nowSec() + 1))).json().outcome).toBe('applied');
    expect(await t.store.db.selectFrom('users').select('id').where('id', '=', 'nobody.here').execute()).toEqual([{ id: 'nobody.here' }]);
  });

  it('refuses forged, stale, unsigned and malformed signatures and changes nothing', async () => {
    const key = await t.free('gus');
    const body = event('evt_g1', 'subscription.created', 'gus');
    const refused = [
      await send(body, { secret: 'whsec_wrong_0123456789abcdef' }),
      await send(body, { t: nowSec() - 301 }),
      await send(body, { header: '' }),
      await send(body, { header: 't=abc,v1=zz' }),
      await send(body.replace('gus', 'gux'), { header: `t=${nowSec()},v1=${sign(TEST_WEBHOOK_SECRET, String(nowSec()), body)}` }),
    ];
    for (const r of refused) {
      expect(r.statusCode).toBe(401);
      expect(r.headers['content-type']).toMatch(/problem\+json/);
    }
    expect(await tierOf(key)).toBe('free');
  });

  it('treats a replay as a no-op', async () => {
    const key = await t.free('hal');
    await send(event('evt_h1', 'subscription.created', 'hal'));
    await send(event('evt_h2', 'subscription.canceled', 'hal', nowSec() + 5));
    const replay = await send(event('evt_h1', 'subscription.created', 'hal'));
    expect(replay.json().outcome).toBe('duplicate');
    expect(await tierOf(key)).toBe('free');
  });

  it('validates the event after the signature', async () => {
    const bad = JSON.stringify({ id: 'evt_x', type: 'subscription.exploded', created: nowSec(), data: { userId: 'x' } });
    const r = await send(bad);
    expect(r.statusCode).toBe(422);
    expect(r.json().detail).toMatch(/type/);
    expect((await send('{not json')).statusCode).toBe(400);
  });

  it('applies two events of the same second in the order they arrive: cancel after subscribe, and resubscribe after cancel', async () => {
    const key = await t.free('ivy');
    const second = nowSec();
    expect((await send(event('evt_i1', 'subscription.created', 'ivy', second))).json().outcome).toBe('applied');
    expect((await send(event('evt_i2', 'subscription.canceled', 'ivy', second))).json().outcome).toBe('applied');
    expect(await tierOf(key)).toBe('free');
    expect((await send(event('evt_i3', 'subscription.created', 'ivy', second))).json().outcome).toBe('applied');
    expect(await tierOf(key)).toBe('premium');
    // an older event still cannot undo a newer one
    expect((await send(event('evt_i4', 'subscription.canceled', 'ivy', second - 1))).json().outcome).toBe('superseded');
    expect(await tierOf(key)).toBe('premium');
  });

  it('a failed payment never creates a subscription or revives a canceled one, and makes a paid one past due', async () => {
    const stranger = await send(event('evt_j1', 'payment.failed', 'jay-unknown'));
    expect(stranger.json().outcome).toBe('ignored');
    const admin = await t.premium('wh-admin', ['admin']);
    expect((await t.app.inject({ method: 'GET', url: '/v1/admin/users/jay-unknown', headers: bearer(admin) })).statusCode).toBe(404);

    const key = await t.free('kim');
    await send(event('evt_k1', 'subscription.created', 'kim', nowSec() - 10));
    await send(event('evt_k2', 'subscription.canceled', 'kim', nowSec() - 5));
    expect((await send(event('evt_k3', 'payment.failed', 'kim'))).json().outcome).toBe('ignored');
    expect(await tierOf(key)).toBe('free');

    const paid = await t.free('lou');
    await send(event('evt_l1', 'subscription.created', 'lou', nowSec() - 10));
    expect((await send(event('evt_l2', 'payment.failed', 'lou'))).json().outcome).toBe('applied');
    const me = (await t.app.inject({ method: 'GET', url: '/v1/admin/users/lou', headers: bearer(admin) })).json();
    expect(me.subscription).toMatchObject({ status: 'past_due' });
    expect(await tierOf(paid)).toBe('premium'); // until the paid period and its grace end
  });

  it('a cancel delivered after a later failed payment still cancels: the outcome does not depend on the arrival order', async () => {
    const key = await t.free('mia');
    await send(event('evt_o1', 'subscription.created', 'mia', nowSec() - 10));
    // In order, the cancel applies and the failed payment after it is ignored.
    expect((await send(event('evt_o3', 'payment.failed', 'mia', nowSec() - 4))).json().outcome).toBe('applied');
    expect((await send(event('evt_o2', 'subscription.canceled', 'mia', nowSec() - 5))).json().outcome).toBe('applied');
    expect(await tierOf(key)).toBe('free');
    // A failed payment older than the state it would change is still superseded.
    expect((await send(event('evt_o4', 'payment.failed', 'mia', nowSec() - 20))).json().outcome).toBe('ignored');
    const ned = await t.free('ned');
    await send(event('evt_p1', 'subscription.created', 'ned', nowSec() - 10));
    expect((await send(event('evt_p2', 'payment.failed', 'ned', nowSec() - 20))).json().outcome).toBe('superseded');
    expect(await tierOf(ned)).toBe('premium');
  });

  it('refuses user ids the admin API could not manage, and a period start without its end', async () => {
    for (const userId of ['a b', '../../x', 'x,admin', '\u202e', 'u\u0000x', 'x'.repeat(201)]) {
      const r = await send(JSON.stringify({ id: `evt_m_${userId.length}_${userId.charCodeAt(0)}`, type: 'subscription.created', created: nowSec(), data: { userId, currentPeriodEnd: nowSec() + 86400 } }));
      expect(r.statusCode, userId).toBe(422);
      expect(r.json().detail).toMatch(/userId/);
    }
    const endless = await send(JSON.stringify({ id: 'evt_n1', type: 'subscription.created', created: nowSec(), data: { userId: 'nat' } }));
    expect(endless.statusCode).toBe(422);
    expect(endless.json().detail).toMatch(/currentPeriodEnd/);
    const future = await send(event('evt_n3', 'subscription.canceled', 'nat', nowSec() + 86_400));
    expect(future.statusCode).toBe(422);
    expect(future.json().errors).toEqual([{ path: 'created', message: 'in the future' }]);
    // a cancel may leave the period end out (the stored one stays)
    expect((await send(JSON.stringify({ id: 'evt_n2', type: 'subscription.canceled', created: nowSec(), data: { userId: 'nat' } }))).statusCode).toBe(200);
  });
});
