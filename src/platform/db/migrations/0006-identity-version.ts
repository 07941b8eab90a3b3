import { sql, SqliteAdapter, type Kysely } from 'kysely';

// SQLite only: a counter that every change to who someone is moves forward, in the same
// transaction as the change, whoever makes it (this process, a webhook's transaction, a
// CLI command in another process). Authentication remembers what it read for as long as
// the counter stands still (features/identity/auth-read-cache.ts, ADR 0013). A key's
// last_used_at is bookkeeping, not identity: updating it alone moves nothing.
// Postgres is shared by several instances, where reading the counter would cost a round
// trip, as much as the authentication read it would save: nothing is created there.
const TRIGGERS: [name: string, event: string][] = [
  ['users_insert', 'INSERT ON users'],
  ['users_update', 'UPDATE ON users'],
  ['users_delete', 'DELETE ON users'],
  ['subscriptions_insert', 'INSERT ON subscriptions'],
  ['subscriptions_update', 'UPDATE ON subscriptions'],
  ['subscriptions_delete', 'DELETE ON subscriptions'],
  ['api_keys_insert', 'INSERT ON api_keys'],
  ['api_keys_update', 'UPDATE OF id, user_id, prefix, hash, created_at, revoked_at ON api_keys'],
  ['api_keys_delete', 'DELETE ON api_keys'],
];

const onSqlite = (db: Kysely<unknown>) => db.getExecutor().adapter instanceof SqliteAdapter;

export async function up(db: Kysely<unknown>): Promise<void> {
  if (!onSqlite(db)) return;
  await sql`create table identity_version (id integer primary key check (id = 1), v integer not null)`.execute(db);
  await sql`insert into identity_version (id, v) values (1, 0)`.execute(db);
  for (const [name, event] of TRIGGERS) {
    await sql.raw(`create trigger identity_version_${name} after ${event} begin update identity_version set v = v + 1; end`).execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!onSqlite(db)) return;
  for (const [name] of TRIGGERS) await sql.raw(`drop trigger identity_version_${name}`).execute(db);
  await sql`drop table identity_version`.execute(db);
}
