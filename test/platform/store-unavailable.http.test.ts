import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/platform/db/database.js';
import { migrateUp } from '../../src/platform/db/migrator.js';
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
