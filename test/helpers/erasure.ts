import { sql } from 'kysely';
import type { Db } from '../../src/platform/db/database.js';

// Helpers of the erasure race tests (test/privacy/): rows that still name a person, and a
// hold that stops one call of a method until the test releases it.

export type Deferred = { promise: Promise<void>; resolve(): void };
export const deferred = (): Deferred => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

// Polls `cond` once per turn of the event loop until it holds (a lock waiter has appeared in
// pg_locks, a write has come back); the test's own timeout bounds it.
export async function until(cond: () => Promise<boolean>): Promise<void> {
  while (!(await cond())) await new Promise((r) => setImmediate(r));
}

// Every row of every table, as text, that holds the id.
export async function rowsNaming(db: Db, dialect: 'sqlite' | 'postgres', id: string): Promise<string[]> {
  const tables =
    dialect === 'sqlite'
      ? (await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`.execute(db)).rows.map((r) => r.name)
      : (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(db)).rows.map((r) => r.name);
  const found: string[] = [];
  for (const t of tables) {
    for (const row of (await sql`select * from ${sql.table(t)}`.execute(db)).rows) {
      const text = JSON.stringify(row);
      if (text.includes(JSON.stringify(id).slice(1, -1))) found.push(`${t}: ${text}`);
    }
  }
  return found;
}

// Holds the next call of `obj[method]` whose arguments `matches` accepts until released,
// as a request delayed between its authentication and that write would be; then the call
// goes through as it would have.
export function holdNextCall<T extends object, K extends keyof T>(obj: T, method: K, matches: (...args: never[]) => boolean) {
  const original = obj[method] as (...args: unknown[]) => Promise<unknown>;
  const reached = deferred();
  const release = deferred();
  (obj as Record<K, unknown>)[method] = async (...args: unknown[]) => {
    if ((matches as (...a: unknown[]) => boolean)(...args)) {
      (obj as Record<K, unknown>)[method] = original;
      reached.resolve();
      await release.promise;
    }
    return original.apply(obj, args);
  };
  return { reached: reached.promise, release: release.resolve };
}
