import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, importPKCS8 } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bearer, createTestApp, TEST_JWT_SECRET, type TestApp } from '../helpers/test-app.js';

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('authentication and access over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const me = (headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url: '/v1/me', headers });

  it('accepts a valid API key and a valid JWT, with the tier from the store', async () => {
    const key = await t.premium('alice');
    const r = await me(bearer(key));
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ userId: 'alice', tier: 'premium', entitlements: ['grading', 'learning_path'] });
    const j = await me(bearer(await t.jwt('alice')));
    expect(j.json()).toMatchObject({ userId: 'alice', tier: 'premium', authenticatedWith: 'jwt' });
  });

  const unauthorized: [string, () => Promise<Record<string, string>>][] = [
    ['no credentials', async () => ({})],
    ['a non-bearer scheme', async () => ({ authorization: 'Basic YWxpY2U6cHc=' })],
    ['a garbled token', async () => bearer('not.a.jwt')],
    ['an unknown API key', async () => bearer('tg_' + 'x'.repeat(43))],
    ['an expired JWT', async () => bearer(await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(Math.floor(Date.now() / 1000) - 3600).sign(new TextEncoder().encode(TEST_JWT_SECRET)))],
    ['a JWT without exp', async () => bearer(await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').sign(new TextEncoder().encode(TEST_JWT_SECRET)))],
    ['a JWT signed with another secret', async () => bearer(await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime('1h').sign(new TextEncoder().encode('another-secret-0123456789abcdef0123456789')))],
    ['alg: none', async () => bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 })}.`)],
    [
      'an RS256 token (algorithm confusion)',
      async () => {
        const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const pk = await importPKCS8(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'RS256');
        return bearer(await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('alice').setExpirationTime('1h').sign(pk));
      },
    ],
    ['a header with control characters', async () => ({ authorization: 'Bearer tg_abc\tdef' })],
  ];

  it.each(unauthorized)('refuses %s with 401 problem+json', async (_name, headers) => {
    const r = await me(await headers());
    expect(r.statusCode).toBe(401);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.json()).toMatchObject({ status: 401, code: 'unauthorized', requestId: r.headers['x-request-id'] });
  });

  it('accepts the scheme in any case (RFC 9110 §11.1): "bearer" is no failed credential', async () => {
    const key = await t.premium('bea');
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      const r = await me({ authorization: `${scheme} ${key}` });
      expect(r.statusCode, scheme).toBe(200);
      expect(r.json().userId).toBe('bea');
    }
  });

  it('fails a revoked key on the next request', async () => {
    await t.premium('bob');
    const { key, id } = await t.container.identity.service.createApiKey('bob');
    expect((await me(bearer(key))).statusCode).toBe(200);
    await t.container.identity.service.revokeApiKey('bob', id);
    expect((await me(bearer(key))).statusCode).toBe(401);
  });

  it('refuses a disabled user', async () => {
    const key = await t.premium('carol');
    await t.container.identity.service.changeUser('an-admin', 'carol', { disabled: true });
    expect((await me(bearer(key))).statusCode).toBe(401);
  });

  it('sees a downgrade on the very next request', async () => {
    const key = await t.premium('dave');
    expect((await me(bearer(key))).json().tier).toBe('premium');
    await t.container.identity.service.cancel('dave');
    expect((await me(bearer(key))).json()).toMatchObject({ tier: 'free', entitlements: [] });
  });

  it('provisions a first-time JWT subject as a free learner', async () => {
    const r = await me(bearer(await t.jwt('newcomer-1')));
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ userId: 'newcomer-1', tier: 'free', roles: ['learner'] });
  });

  it('keeps learners out of admin routes and lets admins in', async () => {
    const learner = await t.premium();
    const r = await t.app.inject({ method: 'GET', url: '/v1/admin/users', headers: bearer(learner) });
    expect(r.statusCode).toBe(403);
    expect(r.json().code).toBe('forbidden');
    const admin = await t.premium(undefined, ['admin']);
    expect((await t.app.inject({ method: 'GET', url: '/v1/admin/users', headers: bearer(admin) })).statusCode).toBe(200);
  });

  it('lets an admin grant, extend and cancel a subscription', async () => {
    const admin = await t.premium(undefined, ['admin']);
    const key = await t.free('erin');
    const post = (body: object) => t.app.inject({ method: 'POST', url: '/v1/admin/users/erin/subscription', headers: bearer(admin), payload: body });
    expect((await post({ action: 'grant', until: new Date(t.clock.now() + 86_400_000).toISOString() })).statusCode).toBe(200);
    expect((await me(bearer(key))).json().tier).toBe('premium');
    const ext = await post({ action: 'extend', by: '30d' });
    expect(ext.json().currentPeriodEnd).toBe(t.clock.now() + 31 * 86_400_000);
    expect((await post({ action: 'cancel' })).json().status).toBe('canceled');
    expect((await me(bearer(key))).json().tier).toBe('free');
    expect((await post({ action: 'extend', by: 'forever' })).statusCode).toBe(400);
    expect((await t.app.inject({ method: 'POST', url: '/v1/admin/users/nobody/subscription', headers: bearer(admin), payload: { action: 'cancel' } })).statusCode).toBe(404);
  });
});

describe('pre-auth limit on credential failures', () => {
  it('answers 429 to an address that keeps failing, even with a valid key, and leaves other routes alone', async () => {
    const t = await createTestApp({ env: { TUTORGATE_AUTH_FAILURES_PER_MINUTE: '5' } });
    try {
      const good = await t.premium();
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) codes.push((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(`tg_guess${i}`) })).statusCode);
      expect(codes.slice(0, 4)).toEqual([401, 401, 401, 401]);
      expect(codes.at(-1)).toBe(429);
      const blocked = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(good) });
      expect(blocked.statusCode).toBe(429);
      expect(blocked.headers['retry-after']).toBeDefined();
      expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(good), remoteAddress: '10.9.8.7' })).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('does not count requests that tried no credential, so clients behind a shared address are not locked out', async () => {
    // A class's tablets calling before sign-in, or a dashboard with an expired cookie, share
    // the school's address; none of them guesses a key.
    const t = await createTestApp({ env: { TUTORGATE_AUTH_FAILURES_PER_MINUTE: '5' } });
    try {
      const good = await t.premium();
      const codes: number[] = [];
      for (let i = 0; i < 10; i++) codes.push((await t.app.inject({ method: 'GET', url: '/v1/me' })).statusCode);
      for (let i = 0; i < 10; i++) codes.push((await t.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Basic dXNlcjp${i}` } })).statusCode);
      for (let i = 0; i < 10; i++) codes.push((await t.app.inject({ method: 'GET', url: '/v1/me', headers: { cookie: `tg_session=stale${i}` } })).statusCode);
      expect(codes).toEqual(Array(30).fill(401));
      expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(good) })).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('rotating the HS256 secret (TUTORGATE_JWT_SECRET_PREVIOUS)', () => {
  // The identity provider keeps signing with the old secret until every instance runs with
  // the new one beside it; tokens it signed before the switch live until their exp.
  const NEW_SECRET = 'rotated-jwt-secret-abcdef0123456789abcdef0123';
  const signWith = (secret: string, sub: string, exp: number | string = '1h') =>
    new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime(exp).sign(new TextEncoder().encode(secret));

  it('accepts tokens signed with the new and the previous secret, and no other', async () => {
    const t = await createTestApp({ env: { TUTORGATE_JWT_SECRET: NEW_SECRET, TUTORGATE_JWT_SECRET_PREVIOUS: TEST_JWT_SECRET } });
    try {
      const me = async (token: string) => t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) });
      const old = await me(await signWith(TEST_JWT_SECRET, 'rotating-user'));
      expect(old.statusCode).toBe(200);
      expect(old.json()).toMatchObject({ userId: 'rotating-user', authenticatedWith: 'jwt' });
      expect((await me(await signWith(NEW_SECRET, 'rotating-user'))).statusCode).toBe(200);
      // The previous secret's tokens are still held to their expiry, and a third secret is refused.
      expect((await me(await signWith(TEST_JWT_SECRET, 'rotating-user', Math.floor(Date.now() / 1000) - 3600))).statusCode).toBe(401);
      expect((await me(await signWith('a-third-secret-0123456789abcdef0123456789', 'rotating-user'))).statusCode).toBe(401);
    } finally {
      await t.close();
    }
  });

  it('refuses the old secret once TUTORGATE_JWT_SECRET_PREVIOUS is removed', async () => {
    const t = await createTestApp({ env: { TUTORGATE_JWT_SECRET: NEW_SECRET } });
    try {
      const r = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(await signWith(TEST_JWT_SECRET, 'rotating-user')) });
      expect(r.statusCode).toBe(401);
    } finally {
      await t.close();
    }
  });
});

describe('end-user JWTs verified against a JWKS (TUTORGATE_JWKS_URL)', () => {
  // A stand-in identity provider whose key set can be taken down and brought back.
  let server: Server;
  let jwksUp = false;
  let jwks: object;
  let url: string;
  let sign: (sub: string, kid?: string) => Promise<string>;
  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] };
    sign = (sub, kid = 'k1') => new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid }).setSubject(sub).setExpirationTime('1h').sign(privateKey);
    server = createServer((_req, res) => {
      if (!jwksUp) return void res.writeHead(503).end('down for maintenance');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('answers 503 while the key set cannot be fetched, counts no failed credential, and accepts the token once it can', async () => {
    // An outage of the identity provider is no caller's fault: a 401 would tell every app to
    // throw away a good token, and counting it would lock the school's shared address out
    // of the API, API keys included, for a minute after the provider is back.
    const t = await createTestApp({ env: { TUTORGATE_JWT_SECRET: '', TUTORGATE_JWKS_URL: url, TUTORGATE_AUTH_FAILURES_PER_MINUTE: '3' } });
    try {
      const key = await t.premium('jwks-user');
      const token = await sign('jwks-user');
      jwksUp = false;
      for (let i = 0; i < 5; i++) {
        const r = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) });
        expect(r.statusCode, `attempt ${i + 1}`).toBe(503);
        expect(r.json()).toMatchObject({ status: 503, code: 'service_unavailable' });
        expect(r.headers['retry-after'], 'a 503 says when to retry').toBe('5');
      }
      expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(key) })).statusCode).toBe(200);
      jwksUp = true;
      const ok = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) });
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toMatchObject({ userId: 'jwks-user', tier: 'premium', authenticatedWith: 'jwt' });
      // With the key set at hand, a token it has no key for is the token's fault again.
      expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(await sign('jwks-user', 'unknown-kid')) })).statusCode).toBe(401);
    } finally {
      jwksUp = false;
      await t.close();
    }
  });

  it('rotation: a key published beside the old one is read again for its kid once 30 s have passed since the last read', async () => {
    // The procedure in docs/operations.md, "Rotate the JWT secret or signing keys". Only
    // Date is faked: the key set's cooldown and cache age are measured with Date.now().
    const t = await createTestApp({ env: { TUTORGATE_JWT_SECRET: '', TUTORGATE_JWKS_URL: url } });
    const published = jwks;
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const me = async (token: string) => (await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) })).statusCode;
      jwksUp = true;
      expect(await me(await sign('rotating-jwks'))).toBe(200); // the set, k1 alone, is read now
      const next = await generateKeyPair('ES256');
      jwks = { keys: [...(published as { keys: object[] }).keys, { ...(await exportJWK(next.publicKey)), kid: 'k2', alg: 'ES256', use: 'sig' }] };
      const signedWithK2 = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k2' }).setSubject('rotating-jwks').setExpirationTime('1h').sign(next.privateKey);
      // Signing with the new key right after publishing it: within 30 s of the last read
      // the instance does not read the set again, and refuses the token.
      expect(await me(signedWithK2)).toBe(401);
      vi.setSystemTime(Date.now() + 31_000);
      expect(await me(signedWithK2)).toBe(200);
      expect(await me(await sign('rotating-jwks'))).toBe(200); // the old key still verifies until it leaves the set
    } finally {
      vi.useRealTimers();
      jwks = published;
      jwksUp = false;
      await t.close();
    }
  });
});
