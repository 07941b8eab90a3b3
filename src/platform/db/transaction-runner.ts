import type SQLite from 'better-sqlite3';
import type { CompiledQuery, QueryResult } from 'kysely';
import { loopPressure } from '../loop-pressure.js';
import type { Db } from './database.js';

// A transaction body written once for both stores: it yields each statement and is
// resumed with that statement's result, as `await` would. A failed statement is thrown
// at its yield; a body must not swallow it (Postgres aborts the transaction anyway).
// Rows are those of a SELECT or a RETURNING; numAffectedRows is set for a statement
// without RETURNING, as Kysely's drivers do.
export type TxBody<T> = Generator<CompiledQuery, T, QueryResult<unknown>>;

// Runs a body in one transaction; anything thrown inside rolls it back and is rethrown.
// The body is a factory: a runner may call it again after a failed attempt that kept
// nothing (SQLite group commit), so it must not act outside the database.
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

// SQLite: bodies run synchronously inside better-sqlite3's BEGIN IMMEDIATE … COMMIT on
// the connection Kysely also uses. Nothing can run between a body's statements and there
// is no microtask hop in it, where a Kysely transaction awaits its driver's connection
// mutex, BEGIN, every statement and COMMIT.
//
// Group commit under load: while the event loop is saturated and crowded (`grouping`,
// by default its utilisation over the last 250 ms above 0.9 and 2.5 or more bodies per
// turn), the bodies submitted in one turn of the loop (the requests whose data arrived
// together), up to GROUP_MAX, run in ONE transaction, each inside its own SAVEPOINT,
// and every caller hears back only after the COMMIT. A commit writes each page it
// changed to the WAL once, however many bodies changed it, and the budget rows and the
// ledger's index pages are the same for most bodies (bench/metering.bench.ts, bursts
// of 16: reserve + settle 0.21 → 0.084 ms per call). Otherwise a body commits at once:
// with headroom, waiting for the end of the turn would delay every request of a burst
// until the whole burst has been read, and alone it would wait for nobody (ADR 0009).
// A body that throws rolls back to its savepoint and only its caller sees the error.
// When the group fails as a whole (BEGIN or COMMIT refused, or an error after which
// SQLite ended the transaction itself) nothing of it was kept, and each body runs again
// in a transaction of its own, so one body cannot fail another: a body is therefore a
// factory that may be called twice.
//
// The one hazard is a Kysely transaction already open on that connection: it holds the
// connection across awaits (BEGIN sent, its next statement not yet), so a synchronous
// transaction started now would land inside it — better-sqlite3 turns it into a
// SAVEPOINT — and share its fate. `inTransaction` tells exactly that case (our own
// transactions never stay open across a tick), and then the bodies go through Kysely,
// which queues them behind the open transaction on the connection mutex. Routing every
// Kysely transaction in the codebase through this runner instead would mean rewriting
// bodies that await other work (flags, learning, billing), and would break again with
// the next `db.transaction()` someone writes; the check is one property read.
export function sqliteTransactionRunner(db: Db, sqlite: SQLite.Database, grouping: (perTurn: number) => boolean = whenCrowdedAndSaturated()): TransactionRunner {
  const queued = kyselyTransactionRunner(db);
  // Alone: BEGIN IMMEDIATE … COMMIT. Called inside `group`: SAVEPOINT … RELEASE.
  const one = sqlite.transaction((body: () => TxBody<unknown>) => runBody(sqlite, body()));
  const group = sqlite.transaction((batch: Submitted[]) => {
    for (const s of batch) {
      try {
        s.outcome = { ok: true, value: one(s.body) };
      } catch (error) {
        if (!sqlite.inTransaction) throw error; // SQLite rolled back the whole group
        s.outcome = { ok: false, error };
      }
    }
  }).immediate;

  // Bodies submitted per turn of the event loop, a moving average: the company a body
  // can expect if it waits for the end of its turn.
  let perTurn = 0;
  let thisTurn = 0;
  const endTurn = () => {
    perTurn = perTurn * 0.8 + thisTurn * 0.2;
    thisTurn = 0;
  };

  let waiting: Submitted[] = [];
  const flush = () => {
    if (waiting.length === 0) return;
    const batch = waiting;
    waiting = [];
    if (sqlite.inTransaction) {
      for (const s of batch) queued(s.body).then(s.resolve, s.reject);
      return;
    }
    // A body alone needs no savepoint (two statements fewer per transaction).
    if (batch.length === 1) {
      alone(batch[0]!);
      return;
    }
    try {
      group(batch);
    } catch {
      for (const s of batch) alone(s);
      return;
    }
    for (const s of batch) answer(s);
  };
  const alone = (s: Submitted) => {
    try {
      s.resolve(one.immediate(s.body));
    } catch (error) {
      s.reject(error);
    }
  };
  return <T>(body: () => TxBody<T>) =>
    new Promise<T>((resolve, reject) => {
      if (thisTurn++ === 0) defer(endTurn);
      const n = waiting.push({ body, resolve: resolve as (v: unknown) => void, reject });
      if (n >= GROUP_MAX || !grouping(perTurn)) flush();
      else if (n === 1) defer(flush);
    });
}

interface Submitted {
  body: () => TxBody<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  outcome?: { ok: true; value: unknown } | { ok: false; error: unknown };
}

const answer = (s: Submitted) => {
  if (s.outcome?.ok) s.resolve(s.outcome.value);
  else s.reject(s.outcome?.error);
};

// Bounds how long the first body of a group waits for company and how long one flush
// holds the event loop.
const GROUP_MAX = 16;

// Group when turns bring company and the loop is saturated. A single connection keeps
// the loop busy too, but alone: deferring its bodies cost 0.7–1.8 ms p50 at one
// connection (bench scenario 5) and grouped nothing. Its turns bring one body or two
// (a settlement and the evaluation it answers with), hence the threshold of 2.5.
function whenCrowdedAndSaturated(): (perTurn: number) => boolean {
  const saturated = loopPressure();
  return (perTurn) => perTurn >= 2.5 && saturated();
}

// Taken at load, so that a test faking timers cannot stall the store.
const defer: (fn: () => void) => void = globalThis.setImmediate;

function runBody(sqlite: SQLite.Database, gen: TxBody<unknown>): unknown {
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
