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
