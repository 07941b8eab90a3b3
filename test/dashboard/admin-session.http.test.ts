import { decodeJwt, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminSessionsFor, deriveSessionKey, SESSION_TTL_SEC } from '../../src/features/dashboard/admin-session.js';
import { bearer, createTestApp, ManualClock, TEST_JWT_SECRET, type TestApp } from '../helpers/test-app.js';

const COOKIE = /^tg_session=([^;]+);/;

describe('dashboard session over HTTP', () => {
  let t: TestApp;
  let adminKey: string;
  let learnerKey: string;
  beforeAll(async () => {
    t = await createTestApp();
    adminKey = await t.premium('ada-admin', ['admin']);
    learnerKey = await t.premium('lea-learner');
  });
  afterAll(() => t.close());

  const signIn = (token: string, headers: Record<string, string> = {}) => t.app.inject({ method: 'POST', url: '/admin/session', payload: { token }, headers });
  const cookieFrom = (setCookie: unknown) => {
    const m = COOKIE.exec(String(setCookie));
    if (!m) throw new Error(`no session cookie in ${String(setCookie)}`);
    return m[1]!;
  };
  const get = (url: string, session: string, headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url, headers: { cookie: `tg_session=${session}`, ...headers } });

  it('serves the page shell without auth, under a CSP that allows no inline script', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/admin' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.body).toContain('<script type="module" src="/admin/app.js"></script>');
    expect(page.body.match(/<script/g)).toHaveLength(1); // the one external module, nothing inline
    const js = await t.app.inject({ method: 'GET', url: '/admin/app.js' });
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    expect(js.body).not.toMatch(/innerHTML|insertAdjacentHTML|outerHTML|document\.write/);
  });

  it('serves the tab icon the page links, and answers /favicon.ico with a cached 204, not a 404', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/admin' });
    expect(page.body).toContain('<link rel="icon" type="image/svg+xml" href="/admin/favicon.svg">');
    const icon = await t.app.inject({ method: 'GET', url: '/admin/favicon.svg' });
    expect(icon.statusCode).toBe(200);
    expect(icon.headers['content-type']).toBe('image/svg+xml');
    expect(icon.headers['cache-control']).toBe('public, max-age=86400');
    expect(icon.headers['x-content-type-options']).toBe('nosniff');
    expect(icon.body).toMatch(/^<svg [^]*<\/svg>$/);
    const ico = await t.app.inject({ method: 'GET', url: '/favicon.ico' });
    expect(ico.statusCode).toBe(204);
    expect(ico.headers['cache-control']).toBe('public, max-age=86400');
    expect(ico.body).toBe('');
  });

  it('/favicon.ico needs no credential and a stale one sent with it counts as no failed sign-in', async () => {
    // A gate of 2 failures a minute: were the icon checking credentials, the third would be 429.
    const strict = await createTestApp({ env: { TUTORGATE_AUTH_FAILURES_PER_MINUTE: '2' } });
    try {
      for (let i = 0; i < 5; i++) {
        const r = await strict.app.inject({ method: 'GET', url: '/favicon.ico', headers: { authorization: 'Bearer tg_stale_key', cookie: 'tg_session=expired' } });
        expect(r.statusCode).toBe(204);
      }
      expect((await strict.container.authFailures.check('127.0.0.1')).allowed).toBe(true);
      const me = await strict.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(await strict.premium('icon-user')) });
      expect(me.statusCode).toBe(200);
    } finally {
      await strict.close();
    }
  });

  it('signs an admin in with an API key or a JWT, and the cookie then reads the admin APIs', async () => {
    for (const token of [adminKey, await t.jwt('ada-admin')]) {
      const r = await signIn(`  ${token}\n`); // pasted with stray whitespace
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({ userId: 'ada-admin' });
      const setCookie = String(r.headers['set-cookie']);
      expect(setCookie).toMatch(/; HttpOnly/);
      expect(setCookie).toMatch(/; SameSite=Strict/);
      expect(setCookie).toMatch(/; Path=\//);
      expect(setCookie).toContain(`Max-Age=${SESSION_TTL_SEC}`);
      expect(setCookie).not.toMatch(/Secure/); // plain http here
      const session = cookieFrom(setCookie);
      expect((await get('/admin/session', session)).json()).toEqual({ userId: 'ada-admin', via: 'session', csrfToken: r.json().csrfToken });
      expect((await get('/v1/admin/usage?groupBy=feature', session)).statusCode).toBe(200);
    }
  });

  it('answers /v1/admin/ops with cache, flags, breaker and limits, without per-minute series', async () => {
    t.container.flags.analytics.record({ flag: 'premium.grading', variant: 'on', reason: 'DEFAULT', exposed: true });
    const session = cookieFrom((await signIn(adminKey)).headers['set-cookie']);
    const r = await get('/v1/admin/ops', session);
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.cache).toEqual(t.container.cache.stats());
    expect(body.llm).toEqual({ breaker: t.container.llm.breakerState(), key: t.container.llm.keyFingerprint() });
    expect(body.limits).toEqual(JSON.parse(JSON.stringify(t.container.policy.limits)));
    expect(body.flags.map((f: { key: string }) => f.key)).toEqual(t.container.flags.service.list().map((f) => f.key));
    expect(body.flagAnalytics.flags['premium.grading']).toMatchObject({ evaluations: 1, exposures: 1 });
    expect(body.flagAnalytics.flags['premium.grading'].minutes).toBeUndefined();
    const learner = await t.app.inject({ method: 'GET', url: '/v1/admin/ops', headers: bearer(learnerKey) });
    expect(learner.statusCode).toBe(403);
  });

  it('refuses learners and bad tokens at sign-in with problem+json and no cookie', async () => {
    const learner = await signIn(learnerKey);
    expect(learner.statusCode).toBe(403);
    expect(learner.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(learner.headers['set-cookie']).toBeUndefined();
    for (const token of ['tg_' + 'x'.repeat(43), 'not.a.jwt', 'has spaces inside']) {
      const bad = await signIn(token);
      expect(bad.statusCode).toBe(401);
      expect(bad.json()).toMatchObject({ code: 'unauthorized' });
      expect(bad.headers['set-cookie']).toBeUndefined();
    }
  });

  it('refuses sign-in and sign-out started by another site', async () => {
    expect((await signIn(adminKey, { 'sec-fetch-site': 'cross-site' })).statusCode).toBe(403);
    expect((await signIn(adminKey, { 'sec-fetch-site': 'same-site' })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'POST', url: '/admin/logout', headers: { 'sec-fetch-site': 'cross-site' } })).statusCode).toBe(403);
    expect((await signIn(adminKey, { 'sec-fetch-site': 'same-origin' })).statusCode).toBe(200);
  });

  it('re-checks the role on every request: a session cookie for a non-admin reads nothing', async () => {
    const { token } = await adminSessionsFor(t.container).issue('lea-learner');
    expect((await get('/v1/admin/usage', token)).statusCode).toBe(403);
    expect((await get('/v1/admin/ops', token)).statusCode).toBe(403);
  });

  it('refuses tampered, foreign and expired cookies', async () => {
    const session = cookieFrom((await signIn(adminKey)).headers['set-cookie']);
    const [h, p, s] = session.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${s.slice(0, -2)}${s.at(-2) === 'A' ? 'B' : 'A'}${s.at(-1)}`;
    const otherSub = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'someone-else' })).toString('base64url')}.${s}`;
    const key = deriveSessionKey(TEST_JWT_SECRET);
    const nowSec = Math.floor(t.clock.now() / 1000);
    const forged = [
      flipped,
      otherSub,
      await t.jwt('ada-admin'), // an API JWT is not a session
      await new SignJWT({ typ: 'something-else' }).setProtectedHeader({ alg: 'HS256' }).setSubject('ada-admin').setIssuedAt(nowSec).setExpirationTime(nowSec + 60).sign(key),
      await new SignJWT({ typ: 'admin-session' }).setProtectedHeader({ alg: 'HS256' }).setSubject('ada-admin').setIssuedAt(nowSec).setExpirationTime(nowSec + 30 * 86_400).sign(key), // outlives any session we issue
      'garbage',
    ];
    for (const cookie of forged) {
      const r = await get('/v1/admin/usage', cookie);
      expect(r.statusCode, cookie).toBe(401);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const saved = t.clock.ms;
    try {
      t.clock.advance(SESSION_TTL_SEC * 1000 + 60_000);
      expect((await get('/v1/admin/usage', session)).statusCode).toBe(401);
    } finally {
      t.clock.ms = saved;
    }
    expect((await get('/v1/admin/usage', session)).statusCode).toBe(200);
  });

  it('never accepts a session token as a Bearer JWT', async () => {
    const session = cookieFrom((await signIn(adminKey)).headers['set-cookie']);
    expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(session) })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/v1/admin/usage', headers: bearer(session) })).statusCode).toBe(401);
  });

  it('does not accept the cookie on state-changing admin routes (CSRF) or on routes without allowSession', async () => {
    const session = cookieFrom((await signIn(adminKey)).headers['set-cookie']);
    const create = (headers: Record<string, string>, id: string) => t.app.inject({ method: 'POST', url: '/v1/admin/users', payload: { id, roles: ['learner'] }, headers });
    expect((await create({ cookie: `tg_session=${session}` }, 'via-cookie')).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'PUT', url: '/v1/admin/users/lea-learner/budget', payload: { monthlyUsd: 0 }, headers: { cookie: `tg_session=${session}` } })).statusCode).toBe(401);
    expect((await get('/v1/admin/flags', session)).statusCode).toBe(401); // a GET that did not opt in
    expect((await create(bearer(adminKey), 'via-bearer')).statusCode).toBe(201); // the route itself works with a key
  });

  it('logout clears the cookie', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/admin/logout' });
    expect(r.statusCode).toBe(204);
    const setCookie = String(r.headers['set-cookie']);
    expect(setCookie).toMatch(/^tg_session=; /);
    expect(setCookie).toContain('Max-Age=0');
    expect(setCookie).toContain('HttpOnly');
  });

  it('logout ends the session itself: a copy of the cookie reads and writes nothing afterwards', async () => {
    const signedIn = await signIn(adminKey);
    const session = cookieFrom(signedIn.headers['set-cookie']);
    const other = cookieFrom((await signIn(adminKey)).headers['set-cookie']); // a second sign-in, elsewhere
    expect((await get('/v1/admin/usage', session)).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'POST', url: '/admin/logout', headers: { cookie: `tg_session=${session}` } })).statusCode).toBe(204);
    expect((await get('/v1/admin/usage', session)).statusCode).toBe(401);
    expect((await get('/admin/session', session)).statusCode).toBe(401); // no fresh CSRF token for it either
    const write = await t.app.inject({
      method: 'PUT',
      url: '/v1/admin/flags/grading',
      payload: { rollout: 50 },
      headers: { cookie: `tg_session=${session}`, origin: 'http://localhost:80', 'sec-fetch-site': 'same-origin', 'x-csrf-token': signedIn.json().csrfToken },
    });
    expect(write.statusCode).toBe(401);
    expect((await get('/v1/admin/usage', other)).statusCode).toBe(200); // only that session ended
  });

  it('revoking the API key that signed in ends its sessions', async () => {
    const { id: keyId, key } = await t.container.identity.service.createApiKey('ada-admin');
    const session = cookieFrom((await signIn(key)).headers['set-cookie']);
    expect((await get('/v1/admin/usage', session)).statusCode).toBe(200);
    await t.container.identity.service.revokeApiKey('ada-admin', keyId);
    expect((await get('/v1/admin/usage', session)).statusCode).toBe(401);
  });

  it('a session signed in with a JWT ends when that JWT would have', async () => {
    // The JWT verifier reads the real time: this app's clock starts at it.
    const live = await createTestApp({ clock: new ManualClock(Date.now()) });
    try {
      await live.premium('jo-admin', ['admin']);
      const jwt = await live.jwt('jo-admin', 300);
      const r = await live.app.inject({ method: 'POST', url: '/admin/session', payload: { token: jwt } });
      expect(r.statusCode).toBe(200);
      const exp = decodeJwt(jwt).exp! * 1000;
      expect(Date.parse(r.json().expiresAt)).toBe(exp);
      expect(String(r.headers['set-cookie'])).toContain(`Max-Age=${Math.ceil((exp - live.clock.now()) / 1000)}`);
      const session = cookieFrom(r.headers['set-cookie']);
      const read = () => live.app.inject({ method: 'GET', url: '/v1/admin/usage', headers: { cookie: `tg_session=${session}` } });
      expect((await read()).statusCode).toBe(200);
      live.clock.ms = exp + 1;
      expect((await read()).statusCode).toBe(401);
    } finally {
      await live.close();
    }
  });
});

describe('dashboard session behind a TLS-terminating proxy', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { TUTORGATE_TRUST_PROXY: '127.0.0.1' } });
  });
  afterAll(() => t.close());

  it('marks the cookie Secure when the request came over https', async () => {
    const key = await t.premium('ada', ['admin']);
    const r = await t.app.inject({ method: 'POST', url: '/admin/session', payload: { token: key }, headers: { 'x-forwarded-proto': 'https' } });
    expect(r.statusCode).toBe(200);
    expect(String(r.headers['set-cookie'])).toMatch(/; Secure$/);
  });
});

describe('dashboard sign-in and the failed-credential gate', () => {
  it('counts failed sign-ins per address with the API, and refuses even a good key once the address is blocked', async () => {
    const t = await createTestApp({ env: { TUTORGATE_AUTH_FAILURES_PER_MINUTE: '3' } });
    try {
      const admin = await t.premium('gate-admin', ['admin']);
      const from = (remoteAddress: string, token: string) => t.app.inject({ method: 'POST', url: '/admin/session', payload: { token }, remoteAddress });
      expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer('tg_' + 'y'.repeat(43)), remoteAddress: '203.0.113.5' })).statusCode).toBe(401);
      expect((await from('203.0.113.5', 'tg_' + 'x'.repeat(43))).statusCode).toBe(401);
      const third = await from('203.0.113.5', 'not.a.jwt');
      expect(third.statusCode).toBe(429);
      expect(third.headers['retry-after']).toBeDefined();
      expect((await from('203.0.113.5', admin)).statusCode).toBe(429);
      expect((await from('203.0.113.6', admin)).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });
});
