import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/platform/db/database.js';
import { migrateDown, migrateUp, migrationStatus } from '../../src/platform/db/migrator.js';
import { migrations } from '../../src/platform/db/migrations/index.js';
import { createPgDatabase, STORE_KINDS } from '../helpers/databases.js';

// A migration only a newer release carries: it sorts after every one this build knows.
const NEWER = '9999-from-a-newer-release';

describe.each(STORE_KINDS)('migrations on %s', (kind) => {
  let store: Store;
  let drop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    if (kind === 'postgres') {
      const db = await createPgDatabase();
      drop = db.drop;
      store = openStore(db.url);
    } else store = openStore('sqlite::memory:');
  });
  afterAll(async () => {
    await store.close();
    await drop?.();
  });

  it('goes up, down one step and up again with the data of earlier steps intact', async () => {
    await migrateUp(store.db);
    expect((await migrationStatus(store.db)).every((m) => m.executedAt)).toBe(true);
    await store.db.insertInto('users').values({ id: 'keep-me', roles: 'learner', created_at: 1, disabled: 0 }).execute();
    await store.db
      .insertInto('usage_ledger')
      .values({ id: 'u1', message_id: 'msg_1', request_id: null, reservation_id: null, budget_keys: null, user_id: 'keep-me', feature: 'grading', model: 'm', input_tokens: 10, output_tokens: 2, cache_write_5m_tokens: 0, cache_write_1h_tokens: 0, cache_read_tokens: 0, cost_micros: 20, reserved_micros: 0, price_version: 'm@x', latency_ms: 1, outcome: 'ok', source: 'llm', status: 'settled', batch: 0, day: '2026-11-27', created_at: 1, settled_at: 1 })
      .execute();
    const last = Object.keys(migrations).at(-1)!;
    expect(await migrateDown(store.db)).toEqual([`reverted ${last}`]);
    expect((await migrationStatus(store.db)).find((m) => m.name === last)?.executedAt).toBeUndefined();
    expect(await migrateUp(store.db)).toEqual([`applied ${last}`]);
    expect(await store.db.selectFrom('users').selectAll().where('id', '=', 'keep-me').executeTakeFirst()).toMatchObject({ roles: 'learner' });
    expect(Number((await store.db.selectFrom('usage_ledger').select('cost_micros').where('id', '=', 'u1').executeTakeFirstOrThrow()).cost_micros)).toBe(20);
  });

  // A row in Kysely's migration table for `name` while `fn` runs, as another release leaves it.
  async function withRow(name: string, fn: () => Promise<unknown>): Promise<void> {
    await sql`insert into kysely_migration (name, timestamp) values (${name}, ${new Date().toISOString()})`.execute(store.db);
    try {
      await fn();
    } finally {
      await sql`delete from kysely_migration where name = ${name}`.execute(store.db);
    }
  }

  it('leaves a schema a newer release migrated as it is, and refuses to revert that release\'s migration', async () => {
    await migrateUp(store.db);
    await withRow(NEWER, async () => {
      const seen: string[] = [];
      expect(await migrateUp(store.db, { onNewer: (names) => seen.push(...names) })).toEqual([]);
      expect(seen).toEqual([NEWER]);
      expect((await migrationStatus(store.db)).at(-1)).toMatchObject({ name: NEWER, newer: true, executedAt: expect.any(Date) });
      await expect(migrateDown(store.db)).rejects.toThrow(`the latest migration, ${NEWER}, belongs to a newer release`);
    });
  });

  it('refuses a database migrated by another line of releases', async () => {
    await migrateUp(store.db);
    const last = Object.keys(migrations).at(-1)!;
    await migrateDown(store.db);
    await withRow(NEWER, () => expect(migrateUp(store.db)).rejects.toThrow(`does not know (${NEWER}) and lacks ones it needs (${last})`));
    expect(await migrateUp(store.db)).toEqual([`applied ${last}`]);
    await withRow('0000-elsewhere', () => expect(migrateUp(store.db)).rejects.toThrow('(0000-elsewhere), ordered before its own'));
  });

  // The rollback promise (docs/operations.md, "Roll back"): the previous release runs on the
  // newer schema with no migration. So no step may take away or tighten what the release
  // before it reads and writes: every table and column stays, a column keeps its type (or
  // widens it), and a column added to an existing table takes a NULL or a default, since
  // the previous release's inserts do not name it.
  it('every step only expands the schema the release before it uses', async () => {
    const WIDENINGS = new Set(['float4>float8']); // 0011 on Postgres: real to double precision
    type Column = { type: string; nullable: boolean; defaulted: boolean };
    const snapshot = async () => {
      const out = new Map<string, Map<string, Column>>();
      for (const t of await store.db.introspection.getTables()) {
        out.set(t.name, new Map(t.columns.map((c) => [c.name, { type: c.dataType.toLowerCase(), nullable: c.isNullable, defaulted: c.hasDefaultValue || c.isAutoIncrementing }])));
      }
      return out;
    };
    for (let i = 0; i < Object.keys(migrations).length; i++) await migrateDown(store.db);
    const stepper = new Migrator({ db: store.db, provider: { getMigrations: async () => migrations } });
    const problems: string[] = [];
    let before = await snapshot();
    for (const name of Object.keys(migrations)) {
      const { error } = await stepper.migrateUp();
      expect(error, name).toBeUndefined();
      const after = await snapshot();
      for (const [table, columns] of before) {
        const now = after.get(table);
        if (!now) {
          problems.push(`${name} drops table ${table}`);
          continue;
        }
        for (const [column, was] of columns) {
          const is = now.get(column);
          if (!is) problems.push(`${name} drops ${table}.${column}`);
          else if (is.type !== was.type && !WIDENINGS.has(`${was.type}>${is.type}`)) problems.push(`${name} changes ${table}.${column} from ${was.type} to ${is.type}`);
          else if (was.nullable && !is.nullable) problems.push(`${name} makes ${table}.${column} not null`);
        }
        for (const [column, is] of now) {
          if (!columns.has(column) && !is.nullable && !is.defaulted) problems.push(`${name} adds ${table}.${column} not null without a default`);
        }
      }
      before = after;
    }
    expect(problems).toEqual([]);
  });

  it('reverts every step down to an empty schema and re-applies them all', async () => {
    for (let i = 0; i < Object.keys(migrations).length; i++) await migrateDown(store.db);
    expect((await migrationStatus(store.db)).every((m) => !m.executedAt)).toBe(true);
    expect(await migrateUp(store.db)).toHaveLength(Object.keys(migrations).length);
  });
});
