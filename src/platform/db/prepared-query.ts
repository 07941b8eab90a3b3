import { CompiledQuery, type Compilable } from 'kysely';
import type { Db } from './database.js';

// Kysely builds and compiles a query on every call; for the few queries on every
// request (authentication, overrides) that costs more than SQLite running them. Build
// once with placeholder values, then run the same SQL with the real parameters, which
// must be passed in the order the builder placed them. New code: statement.ts, whose
// named values cannot be passed in the wrong order.
export function preparedQuery<R>(db: Db, build: () => Compilable<R>): (...params: unknown[]) => Promise<R[]> {
  let sql: string | undefined;
  return async (...params) => {
    sql ??= build().compile().sql;
    return (await db.executeQuery<R>(CompiledQuery.raw(sql, params))).rows;
  };
}
