import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore, type Store } from '../../src/platform/db/database.js';
import { migrateUp } from '../../src/platform/db/migrator.js';

export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_TEST_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

function pgUrlFor(db: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${db}`;
  return u.toString();
}

/** One statement on its own connection, as the Postgres superuser (or at `url`). */
export async function pgAdminQuery(query: string, url = PG_ADMIN_URL): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(query);
  } finally {
    await c.end();
  }
}

// A fresh database per test file: tests never see each other's rows, and nothing
// needs cleaning between runs beyond the drop at the end.
export async function createPgDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `tg_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  return {
    url: pgUrlFor(name),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export interface TestStore {
  store: Store;
  url: string;
  cleanup(): Promise<void>;
}

export async function openTestStore(kind: 'sqlite' | 'postgres'): Promise<TestStore> {
  if (kind === 'sqlite') {
    const store = openStore('sqlite::memory:');
    await migrateUp(store.db);
    return { store, url: 'sqlite::memory:', cleanup: () => store.close() };
  }
  const db = await createPgDatabase();
  const store = openStore(db.url, { poolSize: 20 });
  await migrateUp(store.db);
  return {
    store,
    url: db.url,
    async cleanup() {
      await store.close();
      await db.drop();
    },
  };
}

export const STORE_KINDS = ['sqlite', 'postgres'] as const;

/**
 * Users rows for tests that meter calls directly: a reservation is written only while its
 * user exists (an erased user's in-flight request reserves nothing, ADR 0016).
 */
export async function insertUsers(db: Store['db'], ids: Iterable<string>): Promise<void> {
  const rows = [...ids].map((id) => ({ id, roles: 'learner', created_at: 0, disabled: 0 }));
  for (let i = 0; i < rows.length; i += 500) {
    await db.insertInto('users').values(rows.slice(i, i + 500)).onConflict((oc) => oc.column('id').doNothing()).execute();
  }
}

// Two extra sessions on a Postgres test database, for races forced with row locks: `blocker`
// takes the locks that hold the code under test, `watcher` counts the sessions waiting on a
// lock (the signal that the code under test has reached the held row), no sleeps.
export interface LockSessions {
  blocker: pg.Client;
  lockWaiters(): Promise<number>;
  end(): Promise<void>;
}

export async function openLockSessions(url: string): Promise<LockSessions> {
  const blocker = new pg.Client({ connectionString: url });
  const watcher = new pg.Client({ connectionString: url });
  await Promise.all([blocker.connect(), watcher.connect()]);
  return {
    blocker,
    lockWaiters: async () =>
      Number((await watcher.query<{ n: string }>(`select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)).rows[0]!.n),
    end: async () => {
      await Promise.all([blocker.end(), watcher.end()]);
    },
  };
}

// Learners' rows for tests that write a learner's data through a repository: such writes
// land only while the user's row stands (ADR 0016, while-user-stands.ts).
export async function seedUsers(db: Store['db'], ...ids: string[]): Promise<void> {
  if (ids.length) await db.insertInto('users').values(ids.map((id) => ({ id, roles: 'learner', created_at: 0, disabled: 0 }))).onConflict((oc) => oc.column('id').doNothing()).execute();
}
