import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { ServiceUnavailableError } from '../../platform/errors.js';
import type { CacheMetrics } from './cache-metrics.js';
import { RedisCacheTier, withTimeout, type CacheEvent, type WriteResult } from './redis-cache-tier.js';

export interface CachedValue<T> {
  value: T;
  storedAt: number;
  /** e.g. { costMicros, tokens } of the original call, so hits can be reported as savings. */
  meta?: Record<string, unknown>;
}

export interface ComputeResult<T> {
  value: T;
  cacheable: boolean;
  meta?: Record<string, unknown>;
}

export interface CacheManager {
  get<T>(key: string): Promise<CachedValue<T> | undefined>;
  set<T>(key: string, value: CachedValue<T>, ttlMs: number, tags: string[]): Promise<void>;
  getOrCompute<T>(
    key: string,
    opts: { ttlMs: number; tags: string[]; feature: string },
    compute: () => Promise<ComputeResult<T>>,
  ): Promise<{ value: T; hit: boolean; meta?: Record<string, unknown> }>;
  invalidateTags(tags: string[]): Promise<number>;
  stats(): { hits: number; misses: number; evictions: number; entries: number; bytes: number };
  close(): Promise<void>;
}

export interface CreateCacheManagerOptions {
  /** Memory-tier budget in bytes (approximate: serialised entry + key + fixed overhead). Default 64 MiB. */
  maxBytes?: number;
  /** Command connection. Without it the cache is memory-only. */
  redis?: Redis;
  /** Pub/sub connection; must not be `redis`. Defaults to `redis.duplicate()`, which close() then disconnects. */
  subscriber?: Redis;
  /** Prepended to every Redis key and the pub/sub channel (isolation between deployments/tests). */
  prefix?: string;
  metrics?: CacheMetrics;
  /** Wall clock for storedAt and expiry. */
  now?: () => number;
  /** Upper bound per Redis command, on top of the client's commandTimeout. Default 150 ms. */
  redisTimeoutMs?: number;
  /** Cross-instance compute lock TTL; the holder refreshes it every third of this while computing. Default 5 s. */
  lockTtlMs?: number;
  /** Longest a request waits for another instance's compute before computing itself. Default 30 s. */
  lockWaitMs?: number;
  /** Redis failures are swallowed (the cache degrades to a miss); this is where they can be logged. */
  onError?: (err: unknown, op: string) => void;
}

interface MemoryEntry {
  raw: string; // the same serialised envelope Redis holds: both tiers hand out fresh copies with the same JSON semantics
  tags: readonly string[];
  feature: string;
  expiresAt: number;
}

interface Envelope {
  // When it was written (our clock, epoch ms), so an entry older than the TTL a reader uses now is a
  // miss even if it was written with a longer one. First in the JSON: GET_OR_LOCK reads it with an
  // anchored match. Absent in entries of earlier versions, which are judged by v.storedAt.
  s?: number;
  f: 1;
  v: CachedValue<unknown>;
  e: number; // expiresAt (epoch ms)
  t: string[];
}

interface LeadResult<T> {
  value: T;
  meta?: Record<string, unknown>;
  hit: boolean; // served from a cache tier (another instance computed it)
  cacheable: boolean;
}

const ENTRY_OVERHEAD_BYTES = 96;

/** The Redis key prefix of the service's cache: every process that reads or purges it uses this one. */
export const CACHE_PREFIX = 'tg:';

export function createCacheManager(opts: CreateCacheManagerOptions = {}): CacheManager {
  const now = opts.now ?? Date.now;
  const prefix = opts.prefix ?? '';
  const metrics = opts.metrics;
  const lockTtlMs = opts.lockTtlMs ?? 5_000;
  const lockWaitMs = opts.lockWaitMs ?? 30_000;
  const onError = opts.onError ?? (() => {});
  const instanceId = randomUUID();
  if (opts.redis && opts.subscriber === opts.redis) {
    throw new Error('createCacheManager: subscriber must be a separate connection from redis');
  }
  const tier = opts.redis ? new RedisCacheTier(opts.redis, prefix, opts.redisTimeoutMs ?? 150, onError) : undefined;

  let hits = 0;
  let misses = 0;
  let evictions = 0;
  let closed = false;
  // Bumped on every invalidation seen here; a compute or Redis read that straddles one is not written to
  // memory or Redis, so a purge cannot be undone by a result that was computed from the old state.
  // This only covers purges this instance has heard of; for Redis, the purge generation (read when a
  // compute starts, checked by the write script) covers the ones whose message is still on its way.
  let invalidationEpoch = 0;

  const memory = new LRUCache<string, MemoryEntry>({
    maxSize: opts.maxBytes ?? 64 * 1024 * 1024,
    sizeCalculation: (e, key) => Buffer.byteLength(e.raw) + key.length + ENTRY_OVERHEAD_BYTES,
    dispose: (e, _key, reason) => {
      if (reason !== 'evict') return;
      evictions++;
      metrics?.evictions.inc({ feature: e.feature });
    },
  });

  // With Redis, the memory tier is only trusted while the invalidation channel is live: otherwise
  // a purge on another instance could never reach this memory and stale answers would be served.
  let subscribed = false;
  const memoryTrusted = (): boolean => !tier || subscribed;

  const waiters = new Map<string, Set<() => void>>();
  // A flight with the invalidation epoch it began in: a caller that arrives after a purge
  // does not join a flight that began before it (its value may be what was purged).
  const inflight = new Map<string, { flight: Promise<LeadResult<unknown>>; epoch: number }>();

  const ownsSubscriber = Boolean(opts.redis && !opts.subscriber);
  const sub = opts.subscriber ?? opts.redis?.duplicate();
  const onMessage = (channel: string, message: string): void => {
    if (!tier || channel !== tier.channel) return;
    let event: CacheEvent;
    try {
      event = JSON.parse(message) as CacheEvent;
    } catch {
      return;
    }
    if (event.type === 'invalidate' && Array.isArray(event.tags)) {
      invalidationEpoch++;
      dropMemoryByTags(event.tags);
    } else if (event.type === 'done' && typeof event.key === 'string') {
      wake(event.key);
    }
  };
  const onReady = (): void => {
    if (!sub || !tier || closed) return;
    sub.subscribe(tier.channel).then(
      () => {
        if (!closed) subscribed = true;
      },
      (err: unknown) => onError(err, 'subscribe'),
    );
  };
  const onClose = (): void => {
    // Messages sent while disconnected are lost, so whatever memory holds may be stale.
    subscribed = false;
    invalidationEpoch++;
    memory.clear();
  };
  const onSubError = (err: unknown): void => onError(err, 'subscriber');
  if (sub && tier) {
    sub.on('message', onMessage);
    sub.on('ready', onReady);
    sub.on('close', onClose);
    if (ownsSubscriber) sub.on('error', onSubError);
    if (sub.status === 'ready') onReady();
    else if (sub.status === 'wait') sub.connect().catch((err: unknown) => onError(err, 'subscriber-connect'));
  }

  function dropMemoryByTags(tags: readonly string[]): number {
    const wanted = new Set(tags);
    const doomed: string[] = [];
    for (const [k, e] of memory.entries()) if (e.tags.some((t) => wanted.has(t))) doomed.push(k);
    for (const k of doomed) memory.delete(k);
    return doomed.length;
  }

  function wake(key: string): void {
    const set = waiters.get(key);
    if (!set) return;
    waiters.delete(key);
    for (const resolve of set) resolve();
  }

  /** Resolves when another instance announces it finished `key`, or after `ms` (the announcement is best-effort). */
  function waitForDone(key: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = waiters.get(key);
      if (!set) waiters.set(key, (set = new Set()));
      const done = (): void => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && waiters.get(key) === set) waiters.delete(key); // no empty sets left behind per key
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  function featureOf(key: string): string {
    return key.startsWith('tg:c:') ? (key.split(':', 3)[2] ?? 'unknown') : 'unknown';
  }

  function decode(raw: string): Envelope | undefined {
    try {
      const e = JSON.parse(raw) as Partial<Envelope> | null;
      if (!e || e.f !== 1 || typeof e.e !== 'number' || !Array.isArray(e.t)) return undefined;
      if (e.s !== undefined && typeof e.s !== 'number') return undefined;
      if (!e.v || typeof e.v !== 'object' || typeof e.v.storedAt !== 'number') return undefined;
      return e as Envelope;
    } catch {
      return undefined;
    }
  }

  // The TTL is the caller's (the policy's) as of now, not the one the entry was written with: an
  // entry stored at or before now - ttlMs is too old for it, even if its own expiry is later.
  // A TTL of zero (a policy's `0s`: caching off) makes everything stored too old, not nothing.
  function oldestFresh(ttlMs: number): number {
    return Math.floor(now() - Math.max(0, ttlMs));
  }
  const storedAtOf = (env: Envelope): number => env.s ?? env.v.storedAt;

  /** `oldest`: entries stored at or before it are a miss (see oldestFresh); `get()` has no TTL and passes none. */
  function memoryLookup<T>(key: string, oldest = -Infinity): CachedValue<T> | undefined {
    if (!memoryTrusted()) return undefined;
    const m = memory.get(key);
    if (!m) return undefined;
    const env = m.expiresAt > now() ? decode(m.raw) : undefined;
    if (env && storedAtOf(env) > oldest) return env.v as CachedValue<T>;
    memory.delete(key); // expired, or too old for this instance's policy: the recompute replaces it
    return undefined;
  }

  async function lookup<T>(key: string, feature: string, oldest = -Infinity): Promise<CachedValue<T> | undefined> {
    const m = memoryLookup<T>(key, oldest);
    if (m || !tier) return m;
    const epoch = invalidationEpoch;
    const raw = await tier.get(key);
    return raw == null ? undefined : adopt<T>(key, raw, feature, epoch, oldest);
  }

  // An entry read from Redis: decoded, and copied to memory unless an invalidation came in
  // while it was being read. A corrupt entry is a miss, and deleted so a compute can replace it.
  // One older than `oldest` is a miss too, but left in place: the recompute overwrites it, and an
  // instance still on the longer TTL (mid-deploy) may serve it until then.
  function adopt<T>(key: string, raw: string, feature: string, epoch: number, oldest = -Infinity): CachedValue<T> | undefined {
    const env = decode(raw);
    if (!env) {
      void tier?.del(key);
      return undefined;
    }
    if (!(storedAtOf(env) > oldest)) return undefined;
    // Redis owns expiry; our clock only decides how long the memory copy may live.
    if (memoryTrusted() && epoch === invalidationEpoch && env.e > now()) {
      memory.set(key, { raw, tags: env.t, feature, expiresAt: env.e });
    }
    return env.v as CachedValue<T>;
  }

  // The serialised envelope of a value, or undefined when it cannot be cached (stored
  // nowhere then: e.g. a BigInt or a cycle in the value).
  function envelope(value: CachedValue<unknown>, ttlMs: number, tags: string[]): { raw: string; ttl: number; expiresAt: number } | undefined {
    if (!(ttlMs >= 1) || closed) return undefined;
    const ttl = Math.round(ttlMs);
    const expiresAt = now() + ttl;
    try {
      return { raw: JSON.stringify({ s: Math.floor(now()), f: 1, v: value, e: expiresAt, t: tags } satisfies Envelope), ttl, expiresAt };
    } catch (err) {
      onError(err, 'serialise');
      return undefined;
    }
  }

  /**
   * Memory keeps a value unless Redis refused it (a purge came in after its compute began), or a purge
   * was heard here since `epoch`. A purge heard later drops it by tag, so this is the last check needed.
   */
  function remember(key: string, e: { raw: string; expiresAt: number }, tags: string[], feature: string, written: WriteResult, epoch: number): void {
    if (written !== 'refused' && epoch === invalidationEpoch && memoryTrusted()) memory.set(key, { raw: e.raw, tags: [...tags], feature, expiresAt: e.expiresAt });
  }

  /**
   * `since`: the compute behind a value began at this purge generation (undefined: Redis did not say)
   * and epoch. Redis refuses the write if a purge came in since; a value whose generation is unknown
   * is not written to Redis at all, since nothing can tell whether a purge overtook it. Without
   * `since` (the plain `set`), the write is unconditional.
   */
  async function store(
    key: string,
    value: CachedValue<unknown>,
    ttlMs: number,
    tags: string[],
    feature: string,
    since?: { generation: string | undefined; epoch: number },
  ): Promise<void> {
    const e = envelope(value, ttlMs, tags);
    if (!e) return;
    const epoch = since?.epoch ?? invalidationEpoch;
    const written = tier && (!since || since.generation !== undefined) ? await tier.set(key, e.raw, e.ttl, tags, since?.generation) : undefined;
    remember(key, e, tags, feature, written, epoch);
  }

  function record(feature: string, hit: boolean, meta: Record<string, unknown> | undefined): void {
    if (hit) hits++;
    else misses++;
    if (!metrics) return;
    metrics.requests.inc({ feature, result: hit ? 'hit' : 'miss' });
    if (!hit || !meta) return;
    const tokens = meta.tokens;
    const costMicros = meta.costMicros;
    if (typeof tokens === 'number' && Number.isFinite(tokens) && tokens > 0) metrics.savedTokens.inc({ feature }, tokens);
    if (typeof costMicros === 'number' && Number.isFinite(costMicros) && costMicros > 0) {
      metrics.savedUsd.inc({ feature }, costMicros / 1e6);
    }
  }

  // Runs the compute; the value to store comes back only when it may be stored: cacheable,
  // and no invalidation seen while it ran (it may have been computed from the old state).
  async function computeForCache<T>(compute: () => Promise<ComputeResult<T>>): Promise<{ result: LeadResult<T>; cached?: CachedValue<T>; epoch: number }> {
    const epoch = invalidationEpoch;
    const r = await compute();
    const result: LeadResult<T> = { value: r.value, meta: r.meta, hit: false, cacheable: r.cacheable };
    if (!r.cacheable || epoch !== invalidationEpoch) return { result, epoch };
    const cached: CachedValue<T> = { value: r.value, storedAt: now() };
    if (r.meta !== undefined) cached.meta = r.meta;
    return { result, cached, epoch };
  }

  /** Computes without the Redis lock; `generation`: the purge generation Redis reported before, if it answered. */
  async function computeAndStore<T>(
    key: string,
    opts: { ttlMs: number; tags: string[]; feature: string },
    compute: () => Promise<ComputeResult<T>>,
    generation: string | undefined,
  ): Promise<LeadResult<T>> {
    const { result, cached, epoch } = await computeForCache(compute);
    if (cached) await store(key, cached, opts.ttlMs, opts.tags, opts.feature, { generation, epoch });
    return result;
  }

  /**
   * One caller per key per process gets here; it coordinates with other instances through a
   * Redis lock. Each round is one round trip (the entry, or the lock, or "someone else holds
   * it"), and a leader's value, unlock and `done` go out in one more: two for a miss.
   */
  async function lead<T>(
    key: string,
    opts: { ttlMs: number; tags: string[]; feature: string },
    compute: () => Promise<ComputeResult<T>>,
  ): Promise<LeadResult<T>> {
    if (!tier) return computeAndStore(key, opts, compute, undefined);
    const token = randomUUID();
    const deadline = performance.now() + lockWaitMs;
    let delay = 10;
    for (;;) {
      const epoch = invalidationEpoch;
      const oldest = oldestFresh(opts.ttlMs);
      // An entry too old for opts.ttlMs is absent for the script (so it can take the lock) when it has
      // `s`; one of an earlier version without it comes back, and adopt() judges it by storedAt.
      const r = await tier.getOrLock(key, token, lockTtlMs, oldest);
      if ('found' in r) {
        const found = adopt<T>(key, r.found, opts.feature, epoch, oldest);
        // A corrupt entry was deleted by adopt(), an earlier version's too-old one is left; computing replaces either.
        if (!found) return computeAndStore(key, opts, compute, r.generation);
        return { value: found.value, meta: found.meta, hit: true, cacheable: true };
      }
      if (r.lock === 'unavailable') return computeAndStore(key, opts, compute, undefined);
      if (r.lock === 'acquired') return computeUnderLock(key, token, opts, compute, r.generation);
      // Another instance is computing. Its lock expires if it dies, so this loop ends either with its
      // value, with our own lock, or at the wait bound.
      if (performance.now() >= deadline) return computeAndStore(key, opts, compute, r.generation);
      await waitForDone(key, Math.min(delay, Math.max(1, deadline - performance.now())));
      delay = Math.min(delay * 2, 250);
    }
  }

  async function computeUnderLock<T>(
    key: string,
    token: string,
    opts: { ttlMs: number; tags: string[]; feature: string },
    compute: () => Promise<ComputeResult<T>>,
    generation: string,
  ): Promise<LeadResult<T>> {
    const t = tier!;
    const heartbeat = setInterval(() => void t.extendLock(key, token, lockTtlMs), Math.max(10, Math.floor(lockTtlMs / 3)));
    heartbeat.unref();
    const done: CacheEvent = { type: 'done', key, from: instanceId };
    let released = false;
    try {
      const { result, cached, epoch } = await computeForCache(compute);
      const e = cached && envelope(cached, opts.ttlMs, opts.tags);
      if (e) {
        const written = await t.setReleaseAndPublish(key, e.raw, e.ttl, opts.tags, token, done, generation);
        released = written !== undefined;
        remember(key, e, opts.tags, opts.feature, written, epoch);
      }
      return result;
    } finally {
      clearInterval(heartbeat);
      if (!released) {
        await t.releaseLock(key, token);
        void t.publish(done);
      }
    }
  }

  return {
    async get<T>(key: string): Promise<CachedValue<T> | undefined> {
      const feature = featureOf(key);
      const found = closed ? undefined : await lookup<T>(key, feature);
      record(feature, found !== undefined, found?.meta);
      return found;
    },

    async set<T>(key: string, value: CachedValue<T>, ttlMs: number, tags: string[]): Promise<void> {
      await store(key, value, ttlMs, tags, featureOf(key));
    },

    async getOrCompute<T>(
      key: string,
      opts: { ttlMs: number; tags: string[]; feature: string },
      compute: () => Promise<ComputeResult<T>>,
    ): Promise<{ value: T; hit: boolean; meta?: Record<string, unknown> }> {
      // Memory only: with Redis, the leader's first round trip reads the entry (or locks it).
      const oldest = oldestFresh(opts.ttlMs);
      const found = closed ? undefined : tier ? memoryLookup<T>(key, oldest) : await lookup<T>(key, opts.feature, oldest);
      if (found) {
        record(opts.feature, true, found.meta);
        return withMeta({ value: found.value, hit: true }, found.meta);
      }
      // Checked and set with no await in between, so exactly one concurrent caller leads.
      const current = inflight.get(key);
      let flight = current?.epoch === invalidationEpoch ? (current.flight as Promise<LeadResult<T>>) : undefined;
      const leader = !flight;
      if (!flight) {
        flight = lead(key, opts, compute);
        const mine = flight;
        inflight.set(key, { flight: mine, epoch: invalidationEpoch });
        void mine.then(
          () => inflight.get(key)?.flight === mine && inflight.delete(key),
          () => inflight.get(key)?.flight === mine && inflight.delete(key),
        );
      }
      const r = await flight;
      // A follower that shared a cacheable result was served without its own upstream call: a hit.
      const hit = leader ? r.hit : r.hit || r.cacheable;
      record(opts.feature, hit, r.meta);
      return withMeta({ value: r.value, hit }, r.meta);
    },

    async invalidateTags(tags: string[]): Promise<number> {
      invalidationEpoch++;
      const dropped = dropMemoryByTags(tags);
      if (!tier) return dropped;
      // The purge script also tells the other instances, so it happens with its broadcast or not at
      // all. One that did not reach Redis must be retried by its caller: a 503 saying so, never a bare 500.
      try {
        return await tier.purgeTags(tags, { type: 'invalidate', tags, from: instanceId });
      } catch (err) {
        throw new ServiceUnavailableError(`The cache purge did not reach Redis (${(err as Error).message}); retry it.`);
      }
    },

    stats() {
      return { hits, misses, evictions, entries: memory.size, bytes: memory.calculatedSize };
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      subscribed = false;
      for (const key of [...waiters.keys()]) wake(key);
      if (sub && tier) {
        sub.off('message', onMessage);
        sub.off('ready', onReady);
        sub.off('close', onClose);
        if (ownsSubscriber) {
          sub.disconnect(); // the error listener stays: a late socket error must not be an unhandled 'error' event
        } else if (sub.status === 'ready') {
          await withTimeout(sub.unsubscribe(tier.channel), 500, 'unsubscribe').catch((err: unknown) => onError(err, 'unsubscribe'));
        }
      }
      memory.clear();
    },
  };
}

function withMeta<T>(r: { value: T; hit: boolean }, meta: Record<string, unknown> | undefined): { value: T; hit: boolean; meta?: Record<string, unknown> } {
  return meta === undefined ? r : { ...r, meta };
}
