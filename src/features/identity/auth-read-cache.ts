import { LRUCache } from 'lru-cache';

// What authentication read (a key with its user and subscription, or a user with their
// subscription), remembered between requests while nothing about anyone's identity has
// changed (ADR 0013). On SQLite a trigger moves identity_version forward in the same
// transaction as every change to users, subscriptions and api_keys, whoever makes it
// (migration 0006), except the arrival of a new user or key, which changes nothing
// remembered (migration 0007). The version is checked before every lookup (see
// identityVersionReader for when it is read), and any movement empties the cache: a
// revoked key, a disabled user or a cancelled subscription is seen by the very next
// request, as without the cache (from the next turn of the event loop when another process
// made the change). A key lookup: ~16 µs without the cache, ~7 µs with it reading the
// version each time, ~0.4 µs with the version kept for its turn (bench/auth-cache.bench.ts).
//
// Entries hold rows, never conclusions: the tier is still worked out from the
// subscription at the time of each request (a period that ends needs no write).
// Lookups that find nothing are not remembered (random keys must not fill the cache).
const NOT_READ = Symbol('not read yet');

export class AuthReadCache {
  private readonly entries: LRUCache<string, object>;
  private version: unknown = NOT_READ;
  // Moves with every emptying: a read that was in flight across one may have read the
  // rows from before the change, so it is not remembered.
  private generation = 0;

  constructor(
    private readonly readVersion: () => unknown,
    max = 10_000,
  ) {
    this.entries = new LRUCache({ max });
  }

  async get<V extends object>(key: string, read: () => Promise<V | undefined>): Promise<V | undefined> {
    const version = this.readVersion();
    if (version !== this.version) {
      this.version = version;
      this.entries.clear();
      this.generation++;
    }
    const hit = this.entries.get(key) as V | undefined;
    if (hit) return hit;
    const generation = this.generation;
    const fresh = await read();
    if (fresh && generation === this.generation) this.entries.set(key, fresh);
    return fresh;
  }

  get size(): number {
    return this.entries.size;
  }
}

// The version on a SQLite store; undefined (no cache) on Postgres. While a transaction is
// open on the connection (or should the row be missing) the version is unknown, and each
// call answers a value never seen before, so nothing read then is trusted afterwards: a
// version read inside a transaction that rolls back could otherwise come round again for
// a different, committed change.
//
// The read is a statement of its own (6–9 µs: SQLite opens a read transaction for it), the
// largest item left of a remembered lookup. So a version read is used again until the
// current turn of the event loop ends, unless this process runs a statement that may write
// meanwhile (`writes`): a change made here, by any code on the serving connection, is seen
// by the very next lookup even within the turn. A change by another process (a CLI
// command) is seen from the next turn: the requests that share the turn's read had
// arrived before it began.
export function identityVersionReader(store: { readNow?: (sql: string) => unknown; writes?: () => number }): (() => unknown) | undefined {
  const { readNow, writes } = store;
  if (!readNow) return undefined;
  const read = () => (readNow('select v from identity_version where id = 1') as { v: number } | undefined)?.v ?? Symbol('unknown');
  if (!writes) return read;
  let kept: { version: unknown; writes: number } | undefined;
  const forget = () => (kept = undefined);
  return () => {
    const w = writes();
    if (kept && kept.writes === w) return kept.version;
    const version = read();
    if (typeof version === 'symbol') return version; // unknown: never kept
    if (!kept) atTurnEnd(forget);
    kept = { version, writes: w };
    return version;
  };
}

// Taken at load, so that a test faking timers cannot keep a version past its turn.
const atTurnEnd: (fn: () => void) => void = globalThis.setImmediate;
