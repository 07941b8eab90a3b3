import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type CompiledQuery, type QueryResult } from 'kysely';
import { LRUCache } from 'lru-cache';
import pg from 'pg';
import { ConfigError } from '../config.js';
import type { DB } from './schema.js';
import { kyselyTransactionRunner, sqliteTransactionRunner, type TransactionRunner, type TxBody } from './transaction-runner.js';
import { startWalCheckpointer, type CheckpointReport } from './wal-checkpointer.js';

export type Db = Kysely<DB>;
export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  db: Db;
  dialect: Dialect;
  // A transaction whose body is written once for both stores (see transaction-runner.ts).
  transact: TransactionRunner;
  // One write statement, committed when the promise resolves. On SQLite it joins the
  // group commit of the transactions submitted with it; on Postgres it is one query.
  write(q: CompiledQuery): Promise<QueryResult<unknown>>;
  // SQLite only: one read-only statement without parameters, run synchronously on the
  // serving connection, for a read too small to be worth a round through Kysely (the
  // identity version, features/identity/auth-read-cache.ts). It answers undefined while
  // an (async) transaction is open on the connection: it would read rows that may yet
  // be rolled back. Undefined on Postgres.
  readNow?: (sql: string) => unknown;
  // SQLite only: moves before every statement that may write is run on the serving
  // connection (each run prepares through the statement cache below), so a value read
  // with readNow is known to be unchanged by this process while it stands still.
  // Changes by other connections (another process) do not move it.
  writes?: () => number;
  ping(): Promise<void>;
  close(): Promise<void>;
}

// int8 and numeric come back from pg as strings; our bigints are epoch ms, tokens and
// micro-dollars, all far below 2^53, so numbers are exact.
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
};

export interface StoreOptions {
  poolSize?: number;
  // SQLite: whether to group transactions into one commit, given the bodies submitted per
  // turn of the event loop lately; by default while the loop is saturated and crowded
  // (see transaction-runner.ts).
  groupCommit?: (perTurn: number) => boolean;
  // SQLite file: checkpoint the write-ahead log from a worker thread instead of inside
  // the commits of this connection (wal-checkpointer.ts, ADR 0012). For the serving
  // process; a CLI command's few commits are better off without a thread.
  backgroundCheckpoints?: { everyMs?: number; onReport?: (r: CheckpointReport) => void };
}

// Opens the store and makes one round trip with it, so that a database that cannot be
// opened or reached stops start-up (or a CLI command) with one line naming DATABASE_URL,
// not a bare "connect ECONNREFUSED 127.0.0.1:5432" or "file is not a database". The reason
// is the driver's message, which never holds the URL (it may carry a password).
export async function connectStore(url: string, opts: StoreOptions = {}): Promise<Store> {
  let store: Store | undefined;
  try {
    store = openStore(url, opts);
    await store.ping();
    return store;
  } catch (err) {
    await store?.close().catch(() => {});
    throw new ConfigError(`DATABASE_URL: cannot open the database (${(err as Error).message ?? String(err)})`);
  }
}

export function openStore(url: string, opts: StoreOptions = {}): Store {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length), opts);
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    types: pgTypes as pg.CustomTypesConfig,
    // A stalled or unreachable database must give a bounded error, never a hung request.
    connectionTimeoutMillis: 5_000,
    query_timeout: 10_000,
    statement_timeout: 10_000,
  });
  // A client losing its connection (Postgres restart, failover) must not crash the
  // process: idle clients report on the pool, checked-out ones on themselves, and
  // pg-pool removes its own listener while a client is checked out.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    dialect: 'postgres',
    transact: kyselyTransactionRunner(db),
    write: (q) => db.executeQuery(q),
    ping: async () => {
      await pool.query('select 1');
    },
    close: () => db.destroy(),
  };
}

// Kysely prepares every query anew; compiling the SQL costs ~80 µs of a ~110 µs primary
// key lookup (measured in bench/). Statements are reusable, so keep them by SQL text. The
// number of distinct statements is bounded by the code, not by the data (values are bound).
// Kysely and the transaction runner prepare a statement for every run, so counting the
// statements that are not read-only as they are handed out counts every write before it
// happens (Store.writes); `exec` runs any SQL and counts too.
function withStatementCache(sqlite: SQLite.Database): { connection: SQLite.Database; writes: () => number } {
  const cache = new LRUCache<string, SQLite.Statement>({ max: 1000 });
  let writes = 0;
  const prepare = (sql: string) => {
    let stmt = cache.get(sql);
    if (!stmt) {
      stmt = sqlite.prepare(sql);
      cache.set(sql, stmt);
    }
    if (!stmt.readonly) writes++;
    return stmt;
  };
  const connection = new Proxy(sqlite, {
    get(target, prop, receiver) {
      if (prop === 'prepare') return prepare;
      if (prop === 'exec') writes++;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { connection, writes: () => writes };
}

// With background checkpoints, the serving connection checkpoints only once the log
// passes this many pages (~40 MB): a backstop should the worker fall behind or stop.
const BACKSTOP_CHECKPOINT_PAGES = 10_000;

function openSqlite(path: string, { groupCommit, backgroundCheckpoints }: StoreOptions): Store {
  const onFile = path !== ':memory:' && path !== '';
  if (onFile) mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path);
  sqlite.pragma('journal_mode = WAL');
  // NORMAL under WAL is durable against process crashes (only an OS crash can lose the
  // last commits) and 8x faster than FULL for the counters (MEASURED.md).
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const checkpoints = onFile ? backgroundCheckpoints : undefined; // an in-memory database has no log to copy
  if (checkpoints) sqlite.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES}`);
  const checkpointer = checkpoints && startWalCheckpointer(path, checkpoints);
  const { connection, writes } = withStatementCache(sqlite);
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: connection }) });
  const transact = sqliteTransactionRunner(db, connection, groupCommit);
  return {
    db,
    dialect: 'sqlite',
    transact,
    write: (q) =>
      transact(function* (): TxBody<QueryResult<unknown>> {
        return yield q;
      }),
    readNow: (sql) => {
      if (sqlite.inTransaction) return undefined;
      const stmt = connection.prepare(sql);
      if (!stmt.readonly) throw new Error(`readNow takes a read-only statement: ${sql}`);
      return stmt.get();
    },
    writes,
    ping: async () => {
      sqlite.prepare('select 1').get();
    },
    close: async () => {
      await checkpointer?.stop();
      await db.destroy();
    },
  };
}
