import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityRepository } from '../../src/features/identity/identity.repository.js';
import { IdentityService } from '../../src/features/identity/identity.service.js';
import { systemClock } from '../../src/platform/clock.js';
import { openTestStore, type TestStore } from '../helpers/databases.js';
import { http, startService, type ServiceProcess } from '../e2e/service-process.js';

// End-user JWTs from a JWKS leave no shared secret to derive the dashboard session key
// from. Two compiled instances behind one (imagined) load balancer: a session signed in on
// one must hold on the other, and on either after a restart.

describe('dashboard sessions across instances when JWTs come from a JWKS', () => {
  let ts: TestStore;
  let dir: string;
  let env: Record<string, string>;
  let adminKey: string;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    ts = await openTestStore('postgres');
    const identity = new IdentityService(new IdentityRepository(ts.store.db), systemClock);
    await identity.createUser({ id: 'jwks-admin', tier: 'premium', roles: ['admin'] });
    adminKey = (await identity.createApiKey('jwks-admin')).key;
    dir = mkdtempSync(join(tmpdir(), 'tg-jwks-session-'));
    // Nothing listens there: signing in with an API key never fetches the key set.
    env = { DATABASE_URL: ts.url, TUTORGATE_JWT_SECRET: '', TUTORGATE_JWKS_URL: 'http://127.0.0.1:9/.well-known/jwks.json', TUTORGATE_DATA_DIR: dir };
  }, 60_000);

  afterAll(async () => {
    await Promise.all(services.map((s) => s.kill()));
    await ts?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('a cookie and CSRF token issued by one instance work on the other and after a restart', { timeout: 90_000 }, async () => {
    const [a, b] = await Promise.all([startService(env), startService(env)]);
    services.push(a!, b!);
    const signIn = await http(a!.url, 'POST', '/admin/session', { body: { token: adminKey } });
    expect(signIn.status, signIn.text).toBe(200);
    const cookie = /^tg_session=([^;]+);/.exec(signIn.headers.get('set-cookie') ?? '')![1]!;
    const csrf = signIn.json.csrfToken as string;
    const withSession = (base: string) => ({ headers: { cookie: `tg_session=${cookie}`, origin: base } });

    const onB = await http(b!.url, 'GET', '/admin/session', withSession(b!.url));
    expect(onB.status, onB.text).toBe(200);
    expect(onB.json).toMatchObject({ userId: 'jwks-admin', via: 'session', csrfToken: csrf });
    // A change through the session on the other instance: its CSRF token is the same there.
    const write = await http(b!.url, 'PUT', '/v1/admin/flags/grading', { body: { rollout: 100 }, headers: { ...withSession(b!.url).headers, 'x-csrf-token': csrf } });
    expect(write.status, write.text).toBe(200);

    // The instance that issued it restarts (a deploy): the session still holds there.
    await a!.kill('SIGKILL');
    const a2 = await startService(env);
    services.push(a2);
    const afterRestart = await http(a2.url, 'GET', '/admin/session', withSession(a2.url));
    expect(afterRestart.status, afterRestart.text).toBe(200);

    // Signing out on one ends it on the other (the row is shared).
    expect((await http(a2.url, 'POST', '/admin/logout', withSession(a2.url))).status).toBe(204);
    expect((await http(b!.url, 'GET', '/admin/session', withSession(b!.url))).status).toBe(401);
  });
});
