import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IdentityRepository } from '../../src/features/identity/identity.repository.js';
import { IdentityService } from '../../src/features/identity/identity.service.js';
import { systemClock } from '../../src/platform/clock.js';
import { openTestStore, type TestStore } from '../helpers/databases.js';
import { expectStoreUnavailable, http, startService, type ServiceProcess } from '../e2e/service-process.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

// Postgres that stops answering (a partition, a hung server) and then drops the
// connections (a failover, a restart), seen by the compiled service as a child process
// through a proxy of our own: the shared Postgres is untouched. A child process because
// the failure under test can take the whole process down, which must be observable
// without taking the test runner with it.

describe('Postgres stalled, then dropping connections mid-query', () => {
  let ts: TestStore;
  let proxy: TcpProxy;
  let svc: ServiceProcess;
  let dir: string;
  let key: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    ts = await openTestStore('postgres');
    const identity = new IdentityService(new IdentityRepository(ts.store.db), systemClock);
    await identity.createUser({ id: 'stall-user', tier: 'premium', roles: ['learner'] });
    key = (await identity.createApiKey('stall-user')).key;
    proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(ts.url).port || 5432) });
    const url = new URL(ts.url);
    url.port = String(proxy.port);
    dir = mkdtempSync(join(tmpdir(), 'tg-pgstall-'));
    env = { DATABASE_URL: url.toString(), TUTORGATE_DATA_DIR: dir };
    svc = await startService(env);
  }, 60_000);

  // Each test starts from a running service with the database reachable, whatever the
  // previous one left behind.
  beforeEach(async () => {
    proxy.restore();
    if (svc.child.exitCode !== null || svc.child.signalCode !== null) svc = await startService(env);
  }, 60_000);

  afterAll(async () => {
    await svc?.kill();
    await proxy?.close();
    await ts?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('answers normally through the proxy', async () => {
    const me = await http(svc.url, 'GET', '/v1/me', { token: key });
    expect(me.status).toBe(200);
    expect(me.json.userId).toBe('stall-user');
  });

  it('while Postgres is stalled, /readyz says unready within its own deadline', async () => {
    proxy.stall();
    try {
      const ready = await http(svc.url, 'GET', '/readyz', { timeoutMs: 5_000 });
      expect(ready.status).toBe(503);
      expect(ready.json).toMatchObject({ status: 'unready', checks: { store: { ok: false } } });
    } finally {
      proxy.restore();
    }
  });

  it('while Postgres is stalled, a request gets an error answer in bounded time instead of hanging', { timeout: 30_000 }, async () => {
    proxy.stall();
    try {
      const me = await http(svc.url, 'GET', '/v1/me', { token: key, timeoutMs: 10_000 }).catch((err: Error) => {
        throw new Error(`GET /v1/me got no answer within 10 s while Postgres was stalled (${err.name}): the pool has no connect/query timeout`);
      });
      expectStoreUnavailable(me);
    } finally {
      proxy.restore();
    }
  });

  it('connections dropped while queries are in flight do not crash the service', { timeout: 30_000 }, async () => {
    proxy.stall();
    // Requests whose queries are now waiting on checked-out pool clients.
    const inflight = Array.from({ length: 3 }, () => http(svc.url, 'GET', '/v1/me', { token: key, timeoutMs: 10_000 }).catch(() => undefined));
    await new Promise((r) => setTimeout(r, 500));
    proxy.cut(); // the server goes away: every connection is reset
    const answers = await Promise.all(inflight);
    await new Promise((r) => setTimeout(r, 500));
    expect(svc.child.exitCode, `the service exited:\n${svc.output().slice(-2000)}`).toBeNull();
    expect(svc.child.signalCode).toBeNull();
    for (const a of answers) {
      expect(a, 'an in-flight request got an answer').toBeDefined();
      expectStoreUnavailable(a!);
    }
    proxy.restore();
    const me = await http(svc.url, 'GET', '/v1/me', { token: key });
    expect(me.status).toBe(200);
  });
});
