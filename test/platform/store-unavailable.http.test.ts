import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/platform/db/database.js';
import { migrateUp } from '../../src/platform/db/migrator.js';
import { installErrorHandling } from '../../src/platform/http/error-handler.js';
import { createPgDatabase, pgAdminQuery } from '../helpers/databases.js';
import { bearer, createTestApp, type TestApp } from '../helpers/test-app.js';

// Postgres refuses a connection when it has as many as it allows (max_connections, or a
// role's CONNECTION LIMIT): N instances × their pool size over the server's limit. The
// service then cannot serve; that is a 503 the client retries, not a 500 "internal".
describe('Postgres refusing connections over its limit', () => {
  const role = `tg_limited_${randomBytes(4).toString('hex')}`;
  let database: Awaited<ReturnType<typeof createPgDatabase>>;
  let store: Store;
  let t: TestApp;


  beforeAll(async () => {
    database = await createPgDatabase();
    const url = new URL(database.url);
    const name = url.pathname.slice(1);
    await pgAdminQuery(`create role ${role} login connection limit 1`);
    await pgAdminQuery(`alter database ${name} owner to ${role}`);
    url.username = role;
    store = openStore(url.toString(), { poolSize: 10 });
    await migrateUp(store.db);
    t = await createTestApp({ store: { store, url: url.toString(), cleanup: async () => undefined } });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await store?.close();
    await database?.drop();
    await pgAdminQuery(`drop role if exists ${role}`);
  });

  it('answers 503 service_unavailable with Retry-After, never a 500, when the pool cannot get a connection', async () => {
    const key = await t.premium();
    // More requests at once than the one connection the role may hold: the pool opens more.
    const answers = await Promise.all(Array.from({ length: 12 }, () => t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(key) })));
    const refused = answers.filter((r) => r.statusCode !== 200);
    expect(refused.length, 'the pool was refused at least once').toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.statusCode).toBe(503);
      expect(r.headers['content-type']).toContain('application/problem+json');
      expect(r.headers['retry-after']).toBeDefined();
      expect(r.json()).toMatchObject({ status: 503, code: 'service_unavailable' });
      expect(r.body).not.toContain(role);
    }
  });
});

// Postgres cancelling a statement (57014: past statement_timeout, or cancelled by an
// operator's pg_cancel_backend): the database gave no answer, a 503 the client retries,
// like the client-side query timeout it races with, not a 500. Cancelled here while it
// waits for a lock another session holds.
describe('Postgres cancelling a statement', () => {
  let database: Awaited<ReturnType<typeof createPgDatabase>>;
  let t: TestApp;
  let locker: pg.Client | undefined;

  beforeAll(async () => {
    database = await createPgDatabase();
    const store = openStore(database.url, { poolSize: 4 });
    await migrateUp(store.db);
    t = await createTestApp({ store: { store, url: database.url, cleanup: () => store.close() } });
  }, 60_000);

  afterAll(async () => {
    await locker?.end();
    await t?.close();
    await database?.drop();
  });

  it('answers 503 service_unavailable with Retry-After, never a 500', async () => {
    const key = await t.premium('cancelled');
    locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    await locker.query('begin');
    await locker.query('lock table users in access exclusive mode');
    const answer = t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(key) });
    const db = new URL(database.url).pathname.slice(1);
    let cancelled = false;
    for (let i = 0; i < 200 && !cancelled; i++) {
      const waiting = await locker.query("select pid from pg_stat_activity where datname = $1 and wait_event_type = 'Lock'", [db]);
      for (const row of waiting.rows as { pid: number }[]) cancelled = (await locker.query('select pg_cancel_backend($1) as ok', [row.pid])).rows[0].ok || cancelled;
      if (!cancelled) await new Promise((r) => setTimeout(r, 25));
    }
    const r = await answer;
    await locker.query('rollback');
    expect(cancelled, 'a statement waited for the lock and was cancelled').toBe(true);
    expect(r.statusCode).toBe(503);
    expect(r.headers['retry-after']).toBeDefined();
    expect(r.json()).toMatchObject({ status: 503, code: 'service_unavailable' });
  });
});

// Postgres aborting a transaction to break a deadlock (40P01) or a serialization failure
// (40001): nothing was written and the same request succeeds when retried, so the answer is
// a 503 with a short Retry-After, not a 500 "internal". The error is a real one: two
// sessions lock two rows in opposite orders.
describe('Postgres aborting a transaction in a deadlock', () => {
  let database: Awaited<ReturnType<typeof createPgDatabase>>;
  const clients: pg.Client[] = [];

  beforeAll(async () => {
    database = await createPgDatabase();
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await database?.drop();
  });

  async function deadlockError(): Promise<Error> {
    const [a, b] = await Promise.all([0, 1].map(async () => {
      const c = new pg.Client({ connectionString: database.url });
      clients.push(c);
      await c.connect();
      return c;
    }));
    await a!.query('create table pair (id int primary key, n int); insert into pair values (1, 0), (2, 0)');
    await a!.query('begin');
    await b!.query('begin');
    await a!.query('update pair set n = n + 1 where id = 1');
    await b!.query('update pair set n = n + 1 where id = 2');
    const outcomes = await Promise.allSettled([a!.query('update pair set n = n + 1 where id = 2'), b!.query('update pair set n = n + 1 where id = 1')]);
    await a!.query('rollback');
    await b!.query('rollback');
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(failed, 'Postgres broke the deadlock by aborting one side').toBeDefined();
    return failed!.reason as Error;
  }

  it('answers 503 service_unavailable with a short Retry-After, never a 500', async () => {
    const err = await deadlockError();
    expect((err as { code?: string }).code).toBe('40P01');
    const app = Fastify();
    installErrorHandling(app);
    app.get('/collide', async () => {
      throw err;
    });
    const r = await app.inject({ method: 'GET', url: '/collide' });
    await app.close();
    expect(r.statusCode).toBe(503);
    expect(r.headers['content-type']).toContain('application/problem+json');
    expect(r.headers['retry-after']).toBe('1');
    expect(r.json()).toMatchObject({ status: 503, code: 'service_unavailable' });
    expect(r.body).not.toContain('pair');
  });
});
