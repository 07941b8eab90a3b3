import { sql, SqliteAdapter, type Kysely } from 'kysely';

// SQLite only. A new user or a new API key no longer moves identity_version (migration
// 0006): authentication remembers only what it found (auth-read-cache.ts), and a row
// that did not exist was never found, so its arrival changes nothing remembered. Every
// first sight of a learner's token (their sign-up) used to empty the whole cache.
// A new subscription still moves it: the remembered read of its user holds "no
// subscription". Updates and deletes of all three tables still move it.
const DROPPED: [name: string, event: string][] = [
  ['users_insert', 'INSERT ON users'],
  ['api_keys_insert', 'INSERT ON api_keys'],
];

const onSqlite = (db: Kysely<unknown>) => db.getExecutor().adapter instanceof SqliteAdapter;

export async function up(db: Kysely<unknown>): Promise<void> {
  if (!onSqlite(db)) return;
  for (const [name] of DROPPED) await sql.raw(`drop trigger identity_version_${name}`).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!onSqlite(db)) return;
  for (const [name, event] of DROPPED) {
    await sql.raw(`create trigger identity_version_${name} after ${event} begin update identity_version set v = v + 1; end`).execute(db);
  }
}
