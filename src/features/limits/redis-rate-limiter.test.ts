import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createRedisRateLimiter } from './redis-rate-limiter.js';
import { connectTestRedis, defineRateLimiterCases, deletePrefix, testPrefix } from './rate-limiter.cases.js';

const prefix = testPrefix('redis-rate-limiter');
const clients: Redis[] = [];
const connect = async () => {
  const c = await connectTestRedis();
  clients.push(c);
  return c;
};

afterAll(async () => {
  await deletePrefix(clients[0]!, prefix);
  await Promise.all(clients.map((c) => c.quit()));
});

defineRateLimiterCases('redis', {
  // Each instance gets its own connection, as separate service processes would.
  async instances(n) {
    return Promise.all(Array.from({ length: n }, async () => createRedisRateLimiter(await connect(), { prefix })));
  },
});

describe('redis rate limiter', () => {
  it('lets a crashed holder’s slot lapse with its lease', async () => {
    const redis = await connect();
    const limiter = createRedisRateLimiter(redis, { prefix, slotLeaseSec: 0.2 });
    expect((await limiter.acquireSlot('premium:grading:crashy', 1)).allowed).toBe(true); // never released
    expect((await limiter.acquireSlot('premium:grading:crashy', 1)).allowed).toBe(false);
    await vi.waitFor(async () => expect((await limiter.acquireSlot('premium:grading:crashy', 1)).allowed).toBe(true), {
      timeout: 5000,
      interval: 50,
    });
  });

  it('lets a crashed holder’s slot lapse while other holders keep the slot set alive', async () => {
    // The set's own expiry is refreshed by every acquire, so it never lapses while the slot
    // is busy: the crashed holder's entry must be dropped by its lease, not by the key's TTL.
    const redis = await connect();
    const limiter = createRedisRateLimiter(redis, { prefix, slotLeaseSec: 1 });
    const key = 'premium:grading:crashy-busy';
    expect((await limiter.acquireSlot(key, 2)).allowed).toBe(true); // never released
    await new Promise((r) => setTimeout(r, 500));
    expect((await limiter.acquireSlot(key, 2)).allowed).toBe(true); // live, refreshes the set's TTL
    expect((await limiter.acquireSlot(key, 2)).allowed).toBe(false);
    await new Promise((r) => setTimeout(r, 750)); // the first lease has lapsed, the second has not
    expect((await limiter.acquireSlot(key, 2)).allowed).toBe(true);
  });

  it('puts a TTL on every key it writes, so abandoned principals cost no memory forever', async () => {
    const redis = await connect();
    const p = `${prefix}:ttl`;
    const limiter = createRedisRateLimiter(redis, { prefix: p });
    const spec = { requestsPerMinute: 5, requestsPerHour: 50, tokensPerDay: 100 };
    await limiter.hitRequest('free:path:u', spec);
    await limiter.reserveTokens('free:path:u', spec, 10);
    await limiter.acquireSlot('free:path:u', 1);
    const keys = await redis.keys(`${p}*`);
    expect(keys).toHaveLength(5); // minute, hour, day's tokens, tokens in flight, slots
    for (const key of keys) expect(await redis.pttl(key)).toBeGreaterThan(0);
  });

  it('reports healthy while connected', async () => {
    const limiter = createRedisRateLimiter(await connect(), { prefix });
    await limiter.hitRequest('free:x:y', { requestsPerMinute: 1 });
    expect(limiter.redisHealthy()).toBe(true);
  });
});
