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
});
