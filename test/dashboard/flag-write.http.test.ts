import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminSessionsFor } from '../../src/features/dashboard/admin-session.js';
import { bearer, createTestApp, type TestApp } from '../helpers/test-app.js';

const COOKIE = /^tg_session=([^;]+);/;
const HOST = 'tutorgate.example.test';
const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin' };

// The one write the dashboard's cookie may make: PUT /v1/admin/flags/:key, and only
// with proof that our own page sent it (same origin and the session's CSRF token).
describe('changing a flag with the dashboard session', () => {
  let t: TestApp;
  let adminKey: string;
  let session: string;
  let csrf: string;

  const signIn = async () => {
    const r = await t.app.inject({ method: 'POST', url: '/admin/session', payload: { token: adminKey } });
    expect(r.statusCode).toBe(200);
    const cookie = COOKIE.exec(String(r.headers['set-cookie']))?.[1];
    if (!cookie) throw new Error('no session cookie');
    return { cookie, csrf: r.json().csrfToken as string };
  };
  const put = (headers: Record<string, string>, payload: object = { enabled: false }, cookie = session) =>
    t.app.inject({ method: 'PUT', url: '/v1/admin/flags/grading', payload, headers: { host: HOST, cookie: `tg_session=${cookie}`, ...headers } });
  const flag = async () => (await t.app.inject({ method: 'GET', url: '/v1/admin/flags/grading', headers: bearer(adminKey) })).json();
  const audit = async () => (await t.app.inject({ method: 'GET', url: '/v1/admin/flags/grading/audit', headers: bearer(adminKey) })).json().entries as { actor: string; before: { enabled: boolean } | null; after: { enabled: boolean; rollout: number } }[];

  beforeAll(async () => {
    t = await createTestApp();
    adminKey = await t.premium('flo-admin', ['admin']);
    ({ cookie: session, csrf } = await signIn());
  });
  afterAll(() => t.close());

  it('hands out a CSRF token at sign-in, again on the session check, and a fresh one per sign-in', async () => {
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const check = await t.app.inject({ method: 'GET', url: '/admin/session', headers: { cookie: `tg_session=${session}` } });
    expect(check.json().csrfToken).toBe(csrf); // what the page reads after a reload
    expect((await signIn()).csrf).not.toBe(csrf);
    const viaKey = await t.app.inject({ method: 'GET', url: '/admin/session', headers: bearer(adminKey) });
    expect(viaKey.json().csrfToken).toBeUndefined(); // no session, nothing to bind a token to
  });

  it('toggles a flag from our own origin with the token; the audit names the admin and the cookie reads it', async () => {
    const off = await put({ ...SAME_ORIGIN, 'x-csrf-token': csrf }, { enabled: false, rollout: 40 });
    expect(off.statusCode).toBe(200);
    expect(await flag()).toMatchObject({ key: 'grading', enabled: false, rollout: 40 });
    const viaCookie = await t.app.inject({ method: 'GET', url: '/v1/admin/flags/grading/audit', headers: { cookie: `tg_session=${session}` } });
    expect(viaCookie.statusCode).toBe(200);
    expect(viaCookie.json().entries[0]).toMatchObject({ actor: 'flo-admin', before: { enabled: true, rollout: 100 }, after: { enabled: false, rollout: 40 } });

    // A browser without Sec-Fetch-Site proves the origin with Origin instead.
    const on = await put({ origin: `http://${HOST}`, 'x-csrf-token': csrf }, { enabled: true, rollout: 100 });
    expect(on.statusCode).toBe(200);
    expect(await flag()).toMatchObject({ enabled: true, rollout: 100 });
    expect((await audit())[0]).toMatchObject({ actor: 'flo-admin', after: { enabled: true } });
  });

  it('refuses with 403 problem+json and changes nothing without every proof', async () => {
    const other = await signIn();
    const before = await flag();
    const entries = (await audit()).length;
    const cases: [string, Record<string, string>][] = [
      ['no token', SAME_ORIGIN],
      ['a wrong token', { ...SAME_ORIGIN, 'x-csrf-token': csrf.slice(0, -1) + (csrf.endsWith('A') ? 'B' : 'A') }],
      ["another session's token", { ...SAME_ORIGIN, 'x-csrf-token': other.csrf }],
      ['an empty token', { ...SAME_ORIGIN, 'x-csrf-token': '' }],
      ['a cross-site fetch', { 'sec-fetch-site': 'cross-site', 'x-csrf-token': csrf }],
      ['a same-site (sibling subdomain) fetch', { 'sec-fetch-site': 'same-site', 'x-csrf-token': csrf }],
      ['a foreign Origin', { origin: 'https://evil.example', 'x-csrf-token': csrf }],
      ['our host name on another port', { origin: `http://${HOST}:8443`, 'x-csrf-token': csrf }],
      ['Origin null', { origin: 'null', 'x-csrf-token': csrf }],
      ['no origin proof at all', { 'x-csrf-token': csrf }],
      ['Sec-Fetch-Site overruling a matching Origin', { 'sec-fetch-site': 'cross-site', origin: `http://${HOST}`, 'x-csrf-token': csrf }],
    ];
    for (const [why, headers] of cases) {
      const r = await put(headers);
      expect(r.statusCode, why).toBe(403);
      expect(r.headers['content-type'], why).toMatch(/^application\/problem\+json/);
      expect(r.json(), why).toMatchObject({ code: 'forbidden' });
    }
    expect(await flag()).toEqual(before);
    expect(await audit()).toHaveLength(entries);
  });

  it("re-checks the role: a non-admin's session cannot change a flag even with its own token", async () => {
    await t.premium('lea-learner');
    const sessions = adminSessionsFor(t.container);
    const { token } = await sessions.issue('lea-learner');
    const r = await put({ ...SAME_ORIGIN, 'x-csrf-token': sessions.csrfTokenFor(token) }, { enabled: false }, token);
    expect(r.statusCode).toBe(403);
    expect((await flag()).enabled).toBe(true);
  });

  it('still cannot call any other state-changing route, even with the token from our own origin', async () => {
    const proofs = { cookie: `tg_session=${session}`, ...SAME_ORIGIN, 'x-csrf-token': csrf };
    const users = await t.app.inject({ method: 'POST', url: '/v1/admin/users', payload: { id: 'via-cookie', roles: ['admin'] }, headers: proofs });
    expect(users.statusCode).toBe(401);
    const budget = await t.app.inject({ method: 'PUT', url: '/v1/admin/users/flo-admin/budget', payload: { monthlyUsd: 0 }, headers: proofs });
    expect(budget.statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/v1/admin/flags', headers: proofs })).statusCode).toBe(401); // not opted in
    expect((await t.app.inject({ method: 'GET', url: '/v1/admin/users/via-cookie', headers: bearer(adminKey) })).statusCode).toBe(404);
  });

  it('leaves Bearer calls as they were: no origin or token needed', async () => {
    const r = await t.app.inject({ method: 'PUT', url: '/v1/admin/flags/grading', payload: { rollout: 75 }, headers: bearer(adminKey) });
    expect(r.statusCode).toBe(200);
    expect((await audit())[0]).toMatchObject({ actor: 'flo-admin', after: { rollout: 75 } });
    // A header a browser never adds by itself; the cookie beside it is ignored.
    const withCookie = await t.app.inject({ method: 'PUT', url: '/v1/admin/flags/grading', payload: { rollout: 100 }, headers: { ...bearer(adminKey), cookie: `tg_session=${session}`, 'sec-fetch-site': 'cross-site' } });
    expect(withCookie.statusCode).toBe(200);
  });
});
