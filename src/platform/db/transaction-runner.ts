import type SQLite from 'better-sqlite3';
import type { CompiledQuery, QueryResult } from 'kysely';
import type { Db } from './database.js';

// A transaction body written once for both stores: it yields each statement and is
// resumed with that statement's result, as `await` would. A failed statement is thrown
// at its yield; a body must not swallow it (Postgres aborts the transaction anyway).
// Rows are those of a SELECT or a RETURNING; numAffectedRows is set for a statement
// without RETURNING, as Kysely's drivers do.
export type TxBody<T> = Generator<CompiledQuery, T, QueryResult<unknown>>;

// Runs a body in one transaction; anything thrown inside rolls it back and is rethrown.
export type TransactionRunner = <T>(body: () => TxBody<T>) => Promise<T>;

// Postgres (and SQLite's fallback below): a Kysely transaction, one await per statement.
export function kyselyTransactionRunner(db: Db): TransactionRunner {
  return (body) =>
    db.transaction().execute(async (trx) => {
      const gen = body();
      let step = gen.next();
      while (!step.done) {
        let result: QueryResult<unknown>;
        try {
          result = await trx.executeQuery(step.value);
        } catch (err) {
          step = gen.throw(err);
          continue;
        }
        step = gen.next(result);
      }
      return step.value;
    });
}

// SQLite: the body runs synchronously inside better-sqlite3's BEGIN IMMEDIATE … COMMIT
// on the connection Kysely also uses. Nothing can run between its statements and there
// is no microtask hop in it, where a Kysely transaction awaits its driver's connection
// mutex, BEGIN, every statement and COMMIT.
//
// The one hazard is a Kysely transaction already open on that connection: it holds the
// connection across awaits (BEGIN sent, its next statement not yet), so a synchronous
// transaction started now would land inside it — better-sqlite3 turns it into a
// SAVEPOINT — and share its fate. `inTransaction` tells exactly that case (our own
// transactions never stay open across a tick), and then the body goes through Kysely,
// which queues it behind the open transaction on the connection mutex. Routing every
// Kysely transaction in the codebase through this runner instead would mean rewriting
// bodies that await other work (flags, learning, billing), and would break again with
// the next `db.transaction()` someone writes; the check is one property read.
export function sqliteTransactionRunner(db: Db, sqlite: SQLite.Database): TransactionRunner {
  const queued = kyselyTransactionRunner(db);
  const immediate = sqlite.transaction((gen: TxBody<unknown>) => {
    let step = gen.next();
    while (!step.done) {
      let result: QueryResult<unknown>;
      try {
        result = execute(sqlite, step.value);
      } catch (err) {
        step = gen.throw(err);
        continue;
      }
      step = gen.next(result);
    }
    return step.value;
  }).immediate;
  // async: a throw (a rollback) reaches the caller as a rejection on either path.
  return async <T>(body: () => TxBody<T>) => (sqlite.inTransaction ? queued(body) : (immediate(body()) as T));
}

// The result shape of Kysely's SQLite driver, so a body sees the same on both paths:
// `reader` is true for a SELECT and for a statement with RETURNING.
function execute(sqlite: SQLite.Database, q: CompiledQuery): QueryResult<unknown> {
  const stmt = sqlite.prepare(q.sql);
  const params = q.parameters as unknown[];
  if (stmt.reader) return { rows: stmt.all(params) };
  const { changes, lastInsertRowid } = stmt.run(params);
  return { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) };
}

// Rows inserted, updated or deleted by a statement without RETURNING.
export const affectedRows = (res: QueryResult<unknown>): number => Number(res.numAffectedRows ?? 0);
