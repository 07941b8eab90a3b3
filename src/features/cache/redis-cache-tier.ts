import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';

// Key families live under their own short prefixes so a SCAN or a memory report can tell them apart,
// and so they cannot collide with other features' tg:* keys.
const TAG_SET = 'tg:ct:';
const LOCK = 'tg:cl:';
const CHANNEL = 'tg:cache:events';
// The purge generation: every purge increments it. A writer reads it in the round trip that
// starts its compute (GET_OR_LOCK) and its write is refused if it has changed since, so a
// value computed before a purge never lands after it. One counter for all tags: a purge is
// rare, and dropping every in-flight write then only costs a recompute next time.
const GENERATION = 'tg:cgen';

export type CacheEvent = { type: 'invalidate'; tags: string[]; from: string } | { type: 'done'; key: string; from: string };

interface Script {
  src: string;
  sha: string;
}
const script = (src: string): Script => ({ src, sha: createHash('sha1').update(src).digest('hex') });

// A tag index is a sorted set of entry keys scored by their expiry: each write drops the
// members that have expired, so an index under constant traffic (whose own TTL is always
// pushed forward) does not grow without bound. An index written as a plain set by an
// earlier version is converted on first touch (its members kept until the new entry's
// expiry, a safe over-estimate). PTTL is -1 for a fresh key without expiry, so the index
// always lives at least as long as its newest entry. The time is Redis's own, so instances
// with skewed clocks agree on what has expired (scripts replicate as effects since Redis 5).
const TAG_ENTRY = `
local t = redis.call('TIME')
local nowms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function tag(index, entry, ttl)
  if redis.call('TYPE', index).ok == 'set' then
    local old = redis.call('SMEMBERS', index)
    redis.call('DEL', index)
    for _, m in ipairs(old) do redis.call('ZADD', index, nowms + ttl, m) end
  end
  redis.call('ZADD', index, nowms + ttl, entry)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', nowms)
  if redis.call('PTTL', index) < ttl then redis.call('PEXPIRE', index, ttl) end
end`;

// The purge generation as a number: 0 when the counter does not exist (no purge yet, or flushed).
const READ_GENERATION = `
local function generation(key) return tonumber(redis.call('GET', key) or '0') end`;

// Entry and tag membership are written in one script so a purge can never see the entry without its tag.
// With an expected generation (ARGV[3] not empty) the write is refused (0) if a purge came in since.
const SET_WITH_TAGS = script(`${TAG_ENTRY}${READ_GENERATION}
if ARGV[3] ~= '' and generation(KEYS[2]) ~= tonumber(ARGV[3]) then return 0 end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
for i = 3, #KEYS do tag(KEYS[i], KEYS[1], ttl) end
return 1`);

// Members of a tag index may already have expired (DEL returns 0), so the count is of entries really removed.
// Indexes of both shapes (sorted set now, plain set before) are purged. The generation goes up in the same
// script (so no write that read the old one can land after the entries are gone), and the other instances
// are told from it too: one round trip, and no purge that happened without its broadcast.
const PURGE_TAGS = script(`
redis.call('INCR', KEYS[1])
local n = 0
for i = 2, #KEYS do
  local members
  if redis.call('TYPE', KEYS[i]).ok == 'set' then members = redis.call('SMEMBERS', KEYS[i]) else members = redis.call('ZRANGE', KEYS[i], 0, -1) end
  for _, k in ipairs(members) do n = n + redis.call('DEL', k) end
  redis.call('DEL', KEYS[i])
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return n`);

// Compare-and-act on the lock token, so a holder whose lock expired cannot release or extend a successor's lock.
const RELEASE_LOCK = script(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`);
const EXTEND_LOCK = script(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`);

// A miss and its lock in one round trip: the entry if it exists, else the lock if free,
// with the purge generation a later write must still find.
// Atomic, so a lock acquired here means the entry was absent at that moment (a holder
// stores before it unlocks), and the leader needs no second look.
// An entry written at or before ARGV[3] (its "s", first in the JSON, so an anchored match
// costs next to nothing on a hit) is too old for the caller's current TTL and counts as
// absent: the caller then gets the lock and single-flight holds for its recompute. A fresh
// one has its expiry brought down to what that TTL leaves it (s - ARGV[3] ms), so an entry
// written under a longer TTL does not outlive a lowered one in Redis once it is read. ARGV[3]
// empty, or an entry without "s" (an earlier version's): returned as is, the caller judges it.
const GET_OR_LOCK = script(`${READ_GENERATION}
local g = generation(KEYS[3])
local v = redis.call('GET', KEYS[1])
if v then
  local s = tonumber(string.match(v, '^{"s":(%d+)'))
  local oldest = tonumber(ARGV[3])
  if not s or not oldest then return {1, v, g} end
  if s > oldest then
    if redis.call('PTTL', KEYS[1]) > s - oldest then redis.call('PEXPIRE', KEYS[1], s - oldest) end
    return {1, v, g}
  end
end
if redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then return {2, g} end
return {3, g}`);

// The leader's last step in one round trip: the entry with its tags (as SET_WITH_TAGS, refused
// with 0 if the generation moved), its lock released if still ours, and the waiters on other
// instances told (a refused write still releases and tells: they read again and find no entry).
const SET_RELEASE_PUBLISH = script(`${TAG_ENTRY}${READ_GENERATION}
local stored = 0
if generation(KEYS[3]) == tonumber(ARGV[6]) then
  local ttl = tonumber(ARGV[2])
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
  for i = 4, #KEYS do tag(KEYS[i], KEYS[1], ttl) end
  stored = 1
end
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return stored`);

export type LockResult = 'acquired' | 'held' | 'unavailable';
/** `generation`: the purge generation when Redis answered; a write of what is computed next must present it. */
export type GetOrLockResult = { found: string; generation: string } | { lock: Exclude<LockResult, 'unavailable'>; generation: string } | { lock: 'unavailable' };
/** `refused`: a purge came in since the generation was read; `undefined`: Redis did not answer. */
export type WriteResult = 'stored' | 'refused' | undefined;

/**
 * The Redis side of the cache. Every call is bounded by its own timeout on top of whatever the client
 * is configured with, and read-path failures come back as "unavailable" rather than throwing: a cache
 * that is down must look like an empty cache, never like an outage.
 */
export class RedisCacheTier {
  readonly channel: string;
  private connectRequested = false;
  // After a timeout or connection error Redis is skipped for a moment, so a black-holed Redis costs
  // one timeout per breakerMs instead of one per command on every request.
  private skipUntil = 0;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly timeoutMs: number,
    private readonly onError: (err: unknown, op: string) => void,
    private readonly breakerMs = 1_000,
  ) {
    this.channel = prefix + CHANNEL;
  }

  /** Only a ready connection is used: queued commands on a reconnecting client would just add latency. */
  usable(): boolean {
    const status = this.redis.status;
    if (status === 'wait' && !this.connectRequested) {
      // lazyConnect client nobody has connected yet: start it, use it once it is ready.
      this.connectRequested = true;
      this.redis.connect().catch((err: unknown) => this.onError(err, 'connect'));
    }
    return status === 'ready' && performance.now() >= this.skipUntil;
  }

  entryKey(key: string): string {
    return this.prefix + key;
  }
  lockKey(key: string): string {
    return this.prefix + LOCK + key;
  }
  tagKey(tag: string): string {
    return this.prefix + TAG_SET + tag;
  }
  private generationKey(): string {
    return this.prefix + GENERATION;
  }

  /** The raw entry, null when absent, undefined when Redis could not answer. */
  async get(key: string): Promise<string | null | undefined> {
    return this.attempt('get', () => this.redis.get(this.entryKey(key)));
  }

  /** With `generation`, refused if a purge came in since it was read; without, written unconditionally. */
  async set(key: string, payload: string, ttlMs: number, tags: readonly string[], generation?: string): Promise<WriteResult> {
    const keys = [this.entryKey(key), this.generationKey(), ...tags.map((t) => this.tagKey(t))];
    return written(await this.attempt('set', () => this.run(SET_WITH_TAGS, keys, [payload, String(ttlMs), generation ?? ''])));
  }

  async del(key: string): Promise<void> {
    await this.attempt('del', () => this.redis.del(this.entryKey(key)));
  }

  /** `oldest`: an entry written at or before it (epoch ms) is treated as absent. */
  async getOrLock(key: string, token: string, ttlMs: number, oldest = -Infinity): Promise<GetOrLockResult> {
    const keys = [this.entryKey(key), this.lockKey(key), this.generationKey()];
    const args = [token, String(ttlMs), Number.isFinite(oldest) ? String(oldest) : ''];
    const r = await this.attempt('get-or-lock', () => this.run(GET_OR_LOCK, keys, args));
    if (!Array.isArray(r)) return { lock: 'unavailable' };
    if (r[0] === 1 && typeof r[1] === 'string') return { found: r[1], generation: String(r[2]) };
    return { lock: r[0] === 2 ? 'acquired' : 'held', generation: String(r[1]) };
  }

  /** Stores the entry unless a purge came in since `generation`, releases our lock and publishes `done`. */
  async setReleaseAndPublish(key: string, payload: string, ttlMs: number, tags: readonly string[], token: string, done: CacheEvent, generation: string): Promise<WriteResult> {
    const keys = [this.entryKey(key), this.lockKey(key), this.generationKey(), ...tags.map((t) => this.tagKey(t))];
    const args = [payload, String(ttlMs), token, this.channel, JSON.stringify(done), generation];
    return written(await this.attempt('set-release-publish', () => this.run(SET_RELEASE_PUBLISH, keys, args)));
  }

  async extendLock(key: string, token: string, ttlMs: number): Promise<void> {
    await this.attempt('extend-lock', () => this.run(EXTEND_LOCK, [this.lockKey(key)], [token, String(ttlMs)]));
  }

  async releaseLock(key: string, token: string): Promise<void> {
    await this.attempt('release-lock', () => this.run(RELEASE_LOCK, [this.lockKey(key)], [token]));
  }

  async publish(event: CacheEvent): Promise<boolean> {
    return (await this.attempt('publish', () => this.redis.publish(this.channel, JSON.stringify(event)))) !== undefined;
  }

  /**
   * Deletes the tagged entries, moves the purge generation on and publishes `event`, in one script.
   * Unlike the read path this throws: a purge that silently did not happen must be retried by its caller.
   */
  async purgeTags(tags: readonly string[], event: CacheEvent): Promise<number> {
    if (!this.usable()) throw new Error('cache purge: Redis is not connected');
    const keys = [this.generationKey(), ...tags.map((t) => this.tagKey(t))];
    const n = await withTimeout(this.run(PURGE_TAGS, keys, [this.channel, JSON.stringify(event)]), this.timeoutMs * 4, 'purge');
    return Number(n);
  }

  private async attempt<T>(op: string, fn: () => Promise<T>): Promise<T | undefined> {
    if (!this.usable()) return undefined;
    try {
      return await withTimeout(fn(), this.timeoutMs, op);
    } catch (err) {
      // A reply error (e.g. WRONGTYPE) is about one key; anything else means Redis itself is unwell.
      if (!(err instanceof Error && err.name === 'ReplyError')) this.skipUntil = performance.now() + this.breakerMs;
      this.onError(err, op);
      return undefined;
    }
  }

  private async run(s: Script, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
      return this.redis.eval(s.src, keys.length, ...keys, ...args);
    }
  }
}

function written(reply: unknown): WriteResult {
  return reply === undefined ? undefined : reply === 1 ? 'stored' : 'refused';
}

export function withTimeout<T>(p: Promise<T>, ms: number, op: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis ${op} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
