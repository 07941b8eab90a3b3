import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/platform/db/database.js';
import { migrateUp } from '../../src/platform/db/migrator.js';
import { createPgDatabase, PG_ADMIN_URL } from '../helpers/databases.js';
import { bearer, createTestApp, type TestApp } from '../helpers/test-app.js';

// Postgres refuses a connection when it has as many as it allows (max_connections, or a
// role's CONNECTION LIMIT): N instances × their pool size over the server's limit. The
// service then cannot serve; that is a 503 the client retries, not a 500 "internal".
describe('Postgres refusing connections over its limit', () => {
  const role = `tg_limited_${randomBytes(4).toString('hex')}`;
  let database: Awaited<ReturnType<typeof createPgDatabase>>;
  let store: Store;
  let t: TestApp;

  const admin = async (sql: string, url = PG_ADMIN_URL) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    database = await createPgDatabase();
    const url = new URL(database.url);
    const name = url.pathname.slice(1);
    await admin(`create role ${role} login connection limit 1`);
    await admin(`alter database ${name} owner to ${role}`);
    url.username = role;
    store = openStore(url.toString(), { poolSize: 10 });
    await migrateUp(store.db);
    t = await createTestApp({ store: { store, url: url.toString(), cleanup: async () => undefined } });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await store?.close();
    await database?.drop();
    await admin(`drop role if exists ${role}`);
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
