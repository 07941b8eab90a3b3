import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cacheKey } from './cache-key.js';
import { createCacheManager, type CacheManager, type CreateCacheManagerOptions } from './cache-manager.js';
import { connectRedis, deferred, deleteByPrefix, testPrefix, waitFor, whenSubscribed } from './cache-test-support.js';

const prefix = testPrefix('cache-manager-redis');
const key = (answer: string, rubric = 'r1'): string =>
  cacheKey({ feature: 'grading', scope: 'shared', template: { id: 'grade', version: 1 }, model: 'm', inputs: { answer }, tags: [`rubric:${rubric}`] });
const optsFor = (rubric = 'r1') => ({ ttlMs: 60_000, tags: [`rubric:${rubric}`, 'feature:grading'], feature: 'grading' });

let admin: Redis;
const opened: { cache: CacheManager; conns: Redis[] }[] = [];

/** One "instance": its own command and subscriber connections, like a separate process. */
async function instance(extra: Partial<CreateCacheManagerOptions> = {}): Promise<CacheManager> {
  return (await instanceWithConnections(extra)).cache;
}
async function instanceWithConnections(extra: Partial<CreateCacheManagerOptions> = {}) {
  const redis = await connectRedis();
  const subscriber = await connectRedis();
  // Generous command timeout: a loaded CI box must not trip the breaker and turn hits into misses.
  const cache = createCacheManager({ redis, subscriber, prefix, redisTimeoutMs: 2_000, ...extra });
  opened.push({ cache, conns: [redis, subscriber] });
  await whenSubscribed(cache);
  return { cache, redis, subscriber };
}

/**
 * Holds back the pub/sub messages `subscriber` delivers until the returned function is called:
 * an instance that has not heard of a purge yet (pub/sub delivery is not ordered with other
 * connections' replies, so this is a real interleaving, made deterministic).
 */
function holdMessages(subscriber: Redis): () => void {
  const held: unknown[][] = [];
  const emit = subscriber.emit.bind(subscriber);
  let holding = true;
  subscriber.emit = ((event: string | symbol, ...args: unknown[]) => {
    if (holding && event === 'message') return held.push(args) > 0;
    return emit(event, ...args);
  }) as typeof subscriber.emit;
  return () => {
    holding = false;
    for (const args of held.splice(0)) emit('message', ...args);
  };
}

beforeAll(async () => {
  admin = await connectRedis();
});
afterEach(async () => {
  for (const { cache, conns } of opened.splice(0)) {
    await cache.close();
    for (const c of conns) c.disconnect();
  }
});
afterAll(async () => {
  await deleteByPrefix(admin, prefix);
  admin.disconnect();
});

describe('CacheManager with Redis', () => {
  it('a value computed on one instance is a hit on another', async () => {
    const [a, b] = [await instance(), await instance()];
    let computes = 0;
    const compute = async () => ({ value: { score: 3 }, cacheable: true, meta: { costMicros: 900 } });
    const counted = async () => (computes++, compute());
    expect((await a.getOrCompute(key('x'), optsFor(), counted)).hit).toBe(false);
    expect(await b.getOrCompute(key('x'), optsFor(), counted)).toEqual({ value: { score: 3 }, hit: true, meta: { costMicros: 900 } });
    expect(computes).toBe(1);
    expect(b.stats().entries).toBe(1); // filled b's memory tier
  });

  it('a miss costs two Redis round trips (read-or-lock, then store-unlock-publish); a Redis hit one', async () => {
    const counted = async (redis: Redis) => {
      const sent: string[] = [];
      // Every command ioredis sends goes through sendCommand, scripts included.
      const original = redis.sendCommand.bind(redis);
      redis.sendCommand = ((cmd: { name: string }) => (sent.push(cmd.name), original(cmd as never))) as typeof redis.sendCommand;
      return sent;
    };
    const a = await instanceWithConnections();
    const b = await instanceWithConnections();
    const sentA = await counted(a.redis);
    const sentB = await counted(b.redis);
    await a.cache.getOrCompute(key('trips'), optsFor(), async () => ({ value: 1, cacheable: true }));
    expect(sentA).toEqual(['evalsha', 'evalsha']);
    expect((await b.cache.getOrCompute(key('trips'), optsFor(), async () => ({ value: 2, cacheable: true }))).hit).toBe(true);
    expect(sentB).toEqual(['evalsha']);
  });

  it('concurrent identical misses across two instances make one compute', async () => {
    const [a, b] = [await instance(), await instance()];
    const gate = deferred();
    let computes = 0;
    const compute = async () => {
      computes++;
      await gate.promise;
      return { value: 'graded', cacheable: true };
    };
    const k = key('concurrent');
    const first = a.getOrCompute(k, optsFor(), compute);
    await waitFor(() => computes === 1, 'the first compute to start'); // instance a now holds the Redis lock
    const rest = [
      ...Array.from({ length: 10 }, () => b.getOrCompute(k, optsFor(), compute)),
      ...Array.from({ length: 10 }, () => a.getOrCompute(k, optsFor(), compute)),
    ];
    await new Promise((r) => setTimeout(r, 50)); // let b reach the lock and start waiting (coverage, not an assertion)
    gate.resolve();
    const results = await Promise.all([first, ...rest]);
    expect(computes).toBe(1);
    expect(results.every((r) => r.value === 'graded')).toBe(true);
    expect(results.filter((r) => !r.hit)).toHaveLength(1);
    expect(await admin.exists(`${prefix}tg:cl:${k}`)).toBe(0); // lock released
  });

  it('if the lock holder died, a waiter computes once the lock expires', async () => {
    const a = await instance({ lockTtlMs: 300 });
    const k = key('orphaned-lock');
    await admin.set(`${prefix}tg:cl:${k}`, 'dead-instance-token', 'PX', 300);
    let computes = 0;
    const r = await a.getOrCompute(k, optsFor(), async () => ({ value: ++computes, cacheable: true }));
    expect(r).toEqual({ value: 1, hit: false });
  });

  it('a live but stuck holder is waited for only up to lockWaitMs', async () => {
    const a = await instance({ lockWaitMs: 200 });
    const k = key('stuck-lock');
    await admin.set(`${prefix}tg:cl:${k}`, 'stuck-instance-token', 'PX', 60_000);
    const r = await a.getOrCompute(k, optsFor(), async () => ({ value: 'computed anyway', cacheable: true }));
    expect(r.value).toBe('computed anyway');
  });

  it('invalidateTags on one instance drops the other instance’s memory copy (pub/sub), so it recomputes', async () => {
    const [a, b] = [await instance(), await instance()];
    let computes = 0;
    const compute = async () => ({ value: ++computes, cacheable: true });
    await a.getOrCompute(key('p', 'inv1'), optsFor('inv1'), compute);
    await a.getOrCompute(key('q', 'inv2'), optsFor('inv2'), compute);
    expect((await b.getOrCompute(key('p', 'inv1'), optsFor('inv1'), compute)).hit).toBe(true);
    expect((await b.getOrCompute(key('q', 'inv2'), optsFor('inv2'), compute)).hit).toBe(true);
    expect(b.stats().entries).toBe(2);

    expect(await a.invalidateTags(['rubric:inv1'])).toBe(1);
    await waitFor(() => b.stats().entries === 1, 'b to drop the purged entry');

    const again = await b.getOrCompute(key('p', 'inv1'), optsFor('inv1'), compute);
    expect(again).toEqual({ value: 3, hit: false });
    expect((await b.getOrCompute(key('q', 'inv2'), optsFor('inv2'), compute)).value).toBe(2); // other rubric untouched
    expect(await admin.exists(`${prefix}tg:ct:rubric:inv1`)).toBe(1); // re-tagged by the recompute
  });

  // The reviewer's race: b computes, a purges (script done, message on its way), b's compute
  // ends before b hears of it. b's epoch is unchanged, so only Redis can tell b's write is stale.
  for (const [how, extra, setUp] of [
    ['under its lock', {}, async () => {}],
    ['without the lock (lock wait exceeded)', { lockWaitMs: 50 }, async (k: string) => void (await admin.set(`${prefix}tg:cl:${k}`, 'stuck-instance-token', 'PX', 60_000))],
  ] as const) {
    it(`a compute that began before a purge is not stored after it, ${how}, by an instance not yet told of the purge`, async () => {
      const { cache: b, subscriber } = await instanceWithConnections(extra);
      const release = holdMessages(subscriber); // before a and c exist: b hears of no purge at all
      const [a, c] = [await instance(), await instance()];
      const k = key(`race ${how}`, 'race');
      await setUp(k);
      const started = deferred();
      const gate = deferred();
      const old = b.getOrCompute(k, optsFor('race'), async () => {
        started.resolve();
        await gate.promise;
        return { value: 'computed before the purge', cacheable: true };
      });
      await started.promise;
      await a.invalidateTags(['rubric:race']);
      gate.resolve();
      expect((await old).value).toBe('computed before the purge'); // its own caller still gets what it waited for
      expect(await admin.exists(`${prefix}${k}`)).toBe(0); // not in Redis ...
      expect(await c.get(k)).toBeUndefined();
      expect(await b.get(k)).toBeUndefined(); // ... nor in b's memory tier
      release();
      await admin.del(`${prefix}tg:cl:${k}`);
      expect(await c.getOrCompute(k, optsFor('race'), async () => ({ value: 'after', cacheable: true }))).toEqual({ value: 'after', hit: false });
    });
  }

  describe('a TTL lowered in the policy applies to entries already stored', () => {
    const month = { ...optsFor(), ttlMs: 30 * 24 * 3_600_000 };
    const tenMinutes = { ...optsFor(), ttlMs: 10 * 60_000 };
    let t = Date.now();
    const clock = { now: () => t }; // shared by the instances: the entry ages without waiting

    it('an entry older than the new TTL is a miss on Redis (recomputed under the lock) and in memory', async () => {
      t = Date.now();
      const [a, b, c] = [await instance(clock), await instance(clock), await instance(clock)];
      const k = key('ttl lowered');
      const lock = `${prefix}tg:cl:${k}`;
      let computes = 0;
      const compute = async () => ({ value: ++computes, cacheable: true, meta: { locked: await admin.exists(lock) } });
      await a.getOrCompute(k, month, compute);
      expect((await b.getOrCompute(k, month, compute)).hit).toBe(true); // b now holds it in memory
      t += 11 * 60_000; // the entry is 11 minutes old; the policy now says 10
      // c never read it: Redis's copy is too old, and the lookup took the lock for c (single-flight holds)
      expect(await c.getOrCompute(k, tenMinutes, compute)).toEqual({ value: 2, hit: false, meta: { locked: 1 } });
      expect(await admin.pttl(`${prefix}${k}`)).toBeLessThanOrEqual(10 * 60_000);
      // b's memory copy is too old as well: b reads the replacement from Redis
      expect(await b.getOrCompute(k, tenMinutes, compute)).toEqual({ value: 2, hit: true, meta: { locked: 1 } });
      expect(computes).toBe(2);
    });

    it('an entry still fresh for the new TTL is served, and its Redis expiry is brought down to what that TTL leaves', async () => {
      t = Date.now();
      const [a, c] = [await instance(clock), await instance(clock)];
      const k = key('ttl lowered, still fresh');
      await a.getOrCompute(k, month, async () => ({ value: 'graded', cacheable: true }));
      expect(await admin.pttl(`${prefix}${k}`)).toBeGreaterThan(10 * 60_000);
      t += 2 * 60_000;
      expect(await c.getOrCompute(k, tenMinutes, async () => ({ value: 'unused', cacheable: true }))).toEqual({ value: 'graded', hit: true });
      expect(await admin.pttl(`${prefix}${k}`)).toBeLessThanOrEqual(8 * 60_000);
    });

    it('a TTL lowered to zero (caching off) serves nothing already stored, from Redis or memory', async () => {
      t = Date.now();
      const [a, c] = [await instance(clock), await instance(clock)];
      const k = key('ttl lowered to zero');
      const off = { ...optsFor(), ttlMs: 0 };
      await a.getOrCompute(k, month, async () => ({ value: 'graded', cacheable: true }));
      t += 1;
      expect(await c.getOrCompute(k, off, async () => ({ value: 'recomputed', cacheable: true }))).toEqual({ value: 'recomputed', hit: false });
      expect(await a.getOrCompute(k, off, async () => ({ value: 'recomputed', cacheable: true }))).toEqual({ value: 'recomputed', hit: false });
    });

    it('an entry written by the previous version (no s field) is still read, and judged by its storedAt', async () => {
      t = Date.now();
      const c = await instance(clock);
      const legacy = (storedAt: number) => JSON.stringify({ f: 1, v: { value: 'legacy', storedAt }, e: t + month.ttlMs, t: month.tags });
      const [young, old] = [key('legacy young'), key('legacy old')];
      await admin.set(`${prefix}${young}`, legacy(t - 5 * 60_000), 'PX', month.ttlMs);
      await admin.set(`${prefix}${old}`, legacy(t - 11 * 60_000), 'PX', month.ttlMs);
      const compute = async () => ({ value: 'recomputed', cacheable: true });
      expect(await c.getOrCompute(young, tenMinutes, compute)).toEqual({ value: 'legacy', hit: true });
      expect(await c.getOrCompute(old, tenMinutes, compute)).toEqual({ value: 'recomputed', hit: false });
      expect(await admin.pttl(`${prefix}${old}`)).toBeLessThanOrEqual(10 * 60_000);
    });
  });

  it('losing the invalidation channel empties the memory tier and stops using it (Redis still serves)', async () => {
    const a = await instance();
    const { cache: b, subscriber } = await instanceWithConnections();
    await a.getOrCompute(key('sub-loss'), optsFor(), async () => ({ value: 'v', cacheable: true }));
    expect((await b.get(key('sub-loss')))?.value).toBe('v');
    expect(b.stats().entries).toBe(1);
    subscriber.disconnect(); // purges broadcast now could not reach b's memory
    await waitFor(() => b.stats().entries === 0, 'b to empty its memory tier');
    expect((await b.get(key('sub-loss')))?.value).toBe('v');
    expect(b.stats().entries).toBe(0);
  });

  it('a corrupt or malformed Redis entry is a miss and is deleted', async () => {
    const a = await instance();
    for (const garbage of ['{not json', '{"f":1,"v":"nope","e":1,"t":[]}', '42']) {
      const k = key(`corrupt ${garbage}`);
      await admin.set(`${prefix}${k}`, garbage, 'PX', 60_000);
      expect(await a.get(k)).toBeUndefined();
      await waitFor(async () => (await admin.exists(`${prefix}${k}`)) === 0, 'the corrupt entry to be deleted');
      const r = await a.getOrCompute(k, optsFor(), async () => ({ value: 'fresh', cacheable: true }));
      expect(r).toEqual({ value: 'fresh', hit: false });
      expect((await a.get(k))?.value).toBe('fresh');
    }
  });

  it('sets a Redis TTL on entries and on tag indexes', async () => {
    const a = await instance();
    const k = key('ttl');
    await a.set(k, { value: 1, storedAt: 0 }, 5_000, ['rubric:ttl']);
    const entryTtl = await admin.pttl(`${prefix}${k}`);
    const tagTtl = await admin.pttl(`${prefix}tg:ct:rubric:ttl`);
    expect(entryTtl).toBeGreaterThan(0);
    expect(entryTtl).toBeLessThanOrEqual(5_000);
    expect(tagTtl).toBeGreaterThanOrEqual(entryTtl - 50);
  });

  it('a tag index under constant traffic forgets entries that have expired', async () => {
    const a = await instance();
    const index = `${prefix}tg:ct:rubric:trim`;
    await a.set(key('trim-1'), { value: 1, storedAt: 0 }, 30, ['rubric:trim']);
    await a.set(key('trim-2'), { value: 2, storedAt: 0 }, 60_000, ['rubric:trim']);
    expect(await admin.zcard(index)).toBe(2);
    await new Promise((r) => setTimeout(r, 60));
    await a.set(key('trim-3'), { value: 3, storedAt: 0 }, 60_000, ['rubric:trim']);
    expect((await admin.zrange(index, 0, -1)).sort()).toEqual([`${prefix}${key('trim-2')}`, `${prefix}${key('trim-3')}`].sort());
  });

  it('an index an earlier version wrote as a plain set is converted on write, and purged whole', async () => {
    const a = await instance();
    const index = `${prefix}tg:ct:rubric:legacy`;
    const old = `${prefix}${key('legacy-old')}`;
    await admin.set(old, 'an entry of the earlier version', 'PX', 60_000);
    await admin.sadd(index, old);
    await a.set(key('legacy-new'), { value: 1, storedAt: 0 }, 60_000, ['rubric:legacy']);
    expect(await admin.type(index)).toBe('zset');
    expect(await a.invalidateTags(['rubric:legacy'])).toBe(2);
    expect(await admin.exists(old, `${prefix}${key('legacy-new')}`, index)).toBe(0);
  });

  it('purges an index still in the earlier plain-set shape', async () => {
    const a = await instance();
    const old = `${prefix}${key('legacy-only')}`;
    await admin.set(old, 'x', 'PX', 60_000);
    await admin.sadd(`${prefix}tg:ct:rubric:legacy-only`, old);
    expect(await a.invalidateTags(['rubric:legacy-only'])).toBe(1);
    expect(await admin.exists(old)).toBe(0);
  });
});

describe('CacheManager with Redis unreachable', () => {
  const unreachable = (options: RedisOptions): Redis => {
    const r = new Redis({ host: '127.0.0.1', port: 1, ...options });
    r.on('error', () => {});
    return r;
  };

  it('a black-holed Redis (connected, never answering) costs one bounded timeout, then is skipped', { timeout: 3_000 }, async () => {
    const calls: string[] = [];
    const never = (name: string) => () => {
      calls.push(name);
      return new Promise(() => {});
    };
    // Hand-written stand-ins: ioredis cannot be made to hang on demand against a shared Redis.
    const redis = { status: 'ready', get: never('get'), set: never('set'), evalsha: never('evalsha'), del: never('del'), publish: never('publish') };
    const subscriber = { status: 'ready', on: () => subscriber, off: () => subscriber, subscribe: never('subscribe'), unsubscribe: never('unsubscribe') };
    const errors: string[] = [];
    const cache = createCacheManager({
      redis: redis as unknown as Redis,
      subscriber: subscriber as unknown as Redis,
      redisTimeoutMs: 50,
      onError: (_e, op) => errors.push(op),
    });
    let computes = 0;
    const compute = async () => ({ value: ++computes, cacheable: true });
    expect(await cache.getOrCompute(key('blackhole'), optsFor(), compute)).toEqual({ value: 1, hit: false });
    expect(errors).toEqual(['get-or-lock']); // the leader's one read-or-lock round trip
    const redisCalls = calls.filter((c) => c !== 'subscribe').length;
    expect(await cache.getOrCompute(key('blackhole'), optsFor(), compute)).toEqual({ value: 2, hit: false });
    expect(calls.filter((c) => c !== 'subscribe').length).toBe(redisCalls); // breaker open: Redis not even asked
    await cache.close();
  });

  const variants: [string, RedisOptions][] = [
    ['recommended fail-fast options', { enableOfflineQueue: false, commandTimeout: 100, maxRetriesPerRequest: 0 }],
    ['ioredis defaults (offline queue on)', {}],
  ];
  for (const [name, options] of variants) {
    it(`serves every request without throwing or hanging (${name})`, { timeout: 3_000 }, async () => {
      const redis = unreachable(options);
      const cache = createCacheManager({ redis, prefix });
      try {
        let computes = 0;
        const compute = async () => ({ value: ++computes, cacheable: true });
        const results = await Promise.all(Array.from({ length: 5 }, () => cache.getOrCompute(key('down'), optsFor(), compute)));
        expect(computes).toBe(1); // in-process single-flight still holds
        expect(results.every((r) => r.value === 1)).toBe(true);
        await cache.set(key('down2'), { value: 1, storedAt: 0 }, 60_000, ['t']);
        expect(await cache.get(key('down2'))).toBeUndefined(); // no cache: Redis down and memory unverifiable
        // A purge must not silently not happen, and the caller hears 503 (retry), not 500.
        await expect(cache.invalidateTags(['rubric:r1'])).rejects.toMatchObject({ status: 503, code: 'service_unavailable', message: expect.stringMatching(/Redis.*retry/) });
      } finally {
        await cache.close();
        redis.disconnect();
      }
    });
  }
});
