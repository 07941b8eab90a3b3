import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../helpers/databases.js';
import { bearer, createTestApp, type TestApp } from '../helpers/test-app.js';

describe.each(STORE_KINDS)('admin subscription changes on %s', (kind) => {
  let t: TestApp;
  let admin: string;
  beforeAll(async () => {
    t = await createTestApp({ store: kind });
    admin = await t.premium('sub-admin', ['admin']);
  });
  afterAll(() => t.close());

  const post = (userId: string, body: object) => t.app.inject({ method: 'POST', url: `/v1/admin/users/${userId}/subscription`, headers: bearer(admin), payload: body });
  const subscriptionOf = async (userId: string) => (await t.app.inject({ method: 'GET', url: `/v1/admin/users/${userId}/subscription`, headers: bearer(admin) })).json().subscription;

  it("tells the learner on GET /v1/me which subscription they have and until when it gives premium, its grace period included", async () => {
    const key = await t.free('me-sub');
    const me = async () => (await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(key) })).json();
    expect((await me()).subscription).toBeNull();
    const end = t.clock.now() + 86_400_000;
    const grace = 3 * 86_400_000; // the default policy's gracePeriod
    expect((await post('me-sub', { action: 'grant', until: new Date(end).toISOString() })).statusCode).toBe(200);
    expect(await me()).toMatchObject({ tier: 'premium', subscription: { plan: 'premium', status: 'active', currentPeriodEnd: end, premiumUntil: end + grace } });
    t.clock.advance(2 * 86_400_000); // past the period, inside the grace period
    expect(await me()).toMatchObject({ tier: 'premium', subscription: { status: 'active', premiumUntil: end + grace } });
    t.clock.advance(3 * 86_400_000); // past the grace period: premium has ended
    expect(await me()).toMatchObject({ tier: 'free', subscription: { status: 'active', currentPeriodEnd: end, premiumUntil: null } });
    expect((await post('me-sub', { action: 'extend', by: '30d' })).statusCode).toBe(200);
    expect((await me()).subscription.premiumUntil).toBeGreaterThan(t.clock.now());
    expect((await post('me-sub', { action: 'cancel' })).statusCode).toBe(200);
    expect(await me()).toMatchObject({ tier: 'free', subscription: { status: 'canceled', premiumUntil: null } });
  });

  it('refuses an extension past the dates a grant accepts, naming `by`, and leaves the subscription as it was', async () => {
    await t.free('ext-far');
    const until = new Date(t.clock.now() + 86_400_000).toISOString();
    expect((await post('ext-far', { action: 'grant', until })).statusCode).toBe(200);
    const before = await subscriptionOf('ext-far');
    for (const by of ['99999999999999999999d', '3000000d']) {
      const r = await post('ext-far', { action: 'extend', by });
      expect(r.statusCode, by).toBe(422);
      expect(r.headers['content-type']).toMatch(/problem\+json/);
      expect(r.json().errors).toEqual([{ path: 'by', message: expect.stringMatching(/9999/) }]);
    }
    expect(await subscriptionOf('ext-far')).toEqual(before);
    // the longest extension that still ends in a real date is fine
    expect((await post('ext-far', { action: 'extend', by: '36500d' })).json().currentPeriodEnd).toBe(Date.parse(until) + 36_500 * 86_400_000);
  });
});
