import { PostgresAdapter } from 'kysely';
import type { Db } from './database.js';

// The values of one row to insert, selected from the user's row: `INSERT … SELECT … FROM
// users WHERE id = ?` writes the row only while the user stands (ADR 0016). A request that
// authenticated before the user was erased must not write under the id the erasure removed;
// a write that meets no user inserts nothing, and its caller says so (401, or a skip).
//
// On Postgres the select holds a key-share lock on the user's row to the commit: an erasure
// locks that row FOR UPDATE as its first statement (personal-data.repository.ts), so either
// this write committed before it and the erasure removes the row, or it waits for the
// erasure and then finds no user. SQLite has one writer: the write runs wholly before or
// after the erasure. The check rides on the insert the caller makes anyway: no statement
// more. Values may be statement placeholders (statement.ts). With ON CONFLICT the select
// must keep its WHERE clause (SQLite's parser needs one there to see the upsert).
export function whileUserStands(db: Db, values: object, userId: unknown) {
  const q = db
    .selectFrom('users')
    .select((eb) => Object.entries(values).map(([c, v]) => eb.val(v).as(c)))
    .where('users.id', '=', userId as string);
  return onPostgres(db) ? q.forKeyShare() : q;
}

// The user's id while their row stands, else null; a scalar subquery for a value of an
// insert that must be written either way (a billing event, a batch's usage), under the
// user or under nothing. Locks as whileUserStands does.
export function userIdWhileStands(db: Db, userId: unknown) {
  const q = db.selectFrom('users').select('users.id').where('users.id', '=', userId as string);
  return onPostgres(db) ? q.forKeyShare() : q;
}

// Ids the service acts and bills under itself (calibration, batches: `system:…`), which no
// user can have (USER_ID_PATTERN has no colon) and which have no user row to check.
export const SERVICE_PRINCIPAL_PREFIX = 'system:';
export const isServicePrincipal = (id: string) => id.startsWith(SERVICE_PRINCIPAL_PREFIX);

const onPostgres = (db: Db) => db.getExecutor().adapter instanceof PostgresAdapter;
