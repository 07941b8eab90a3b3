import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createAuthFailureLimiter } from './auth-failure-limiter.js';
import { LimiterUnavailableError } from './limit-types.js';
import { connectTestRedis, deletePrefix, FAIL_FAST_REDIS, testPrefix } from './rate-limiter.cases.js';
import { createRedisRateLimiter } from './redis-rate-limiter.js';

const prefix = testPrefix('redis-unavailable');
const spec = { requestsPerMinute: 3, tokensPerDay: 1000 };
// A hang would blow this per-test budget; the behaviour under test is "answers, does not wait".
const NO_HANG = 3000;

describe('Redis unreachable (nothing listens on the port)', () => {
  const dead = new Redis({ ...FAIL_FAST_REDIS, port: 1, retryStrategy: () => 200 });
  dead.on('error', () => {}); // connection refusals are expected here
  afterAll(() => dead.disconnect());

  it('hitRequest fails open onto the per-process insurance limiter, which still enforces limits', { timeout: NO_HANG }, async () => {
    const errors: string[] = [];
    const limiter = createRedisRateLimiter(dead, { prefix, onBackendError: (op) => errors.push(op) });
    const decisions = await Promise.all(Array.from({ length: 5 }, () => limiter.hitRequest('free:grading:u1', spec)));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false, false]);
    expect(limiter.redisHealthy()).toBe(false);
    expect(errors[0]).toBe('hitRequest');
  });

  it('a refund goes to the backend that counted the request, never to the other one', { timeout: NO_HANG }, async () => {
    const limiter = createRedisRateLimiter(dead, { prefix });
    const key = 'free:grading:refund';
    const s = { requestsPerMinute: 2 };
    const first = await limiter.hitRequest(key, s);
    expect(first).toMatchObject({ allowed: true, byStandIn: true });
    await limiter.hitRequest(key, s);
    expect((await limiter.hitRequest(key, s)).allowed).toBe(false);
    await limiter.refundRequest(key, s, first); // the stand-in counted it: the stand-in gives it back
    expect((await limiter.hitRequest(key, s)).allowed).toBe(true);
    // A request Redis admitted is not refunded by the stand-in when Redis is gone: the point stays spent.
    await limiter.refundRequest(key, s, { allowed: true, retryAfterSec: 0, headers: {} });
    expect((await limiter.hitRequest(key, s)).allowed).toBe(false);
  });

  it('the premium paths throw LimiterUnavailableError so the caller can fail closed', { timeout: NO_HANG }, async () => {
    const limiter = createRedisRateLimiter(dead, { prefix });
    await expect(limiter.reserveTokens('premium:grading:u1', spec, 10)).rejects.toBeInstanceOf(LimiterUnavailableError);
    await expect(limiter.acquireSlot('premium:grading:u1', 4)).rejects.toBeInstanceOf(LimiterUnavailableError);
    await expect(limiter.peek('premium:grading:u1', spec)).rejects.toBeInstanceOf(LimiterUnavailableError);
  });

  it('without insurance hitRequest throws too', { timeout: NO_HANG }, async () => {
    const limiter = createRedisRateLimiter(dead, { prefix, insuranceLimiter: false });
    await expect(limiter.hitRequest('free:grading:u1', spec)).rejects.toBeInstanceOf(LimiterUnavailableError);
  });

  it('the auth-failure limiter keeps counting in memory', { timeout: NO_HANG }, async () => {
    const auth = createAuthFailureLimiter({ redis: dead, prefix, failuresPerMinute: 2 });
    expect((await auth.recordFailure('203.0.113.9')).allowed).toBe(true);
    expect((await auth.recordFailure('203.0.113.9')).allowed).toBe(false);
    expect((await auth.check('203.0.113.9')).allowed).toBe(false);
  });
});

/**
 * A TCP relay to the real Redis that can stop forwarding: the connection stays "ready" but
 * nothing comes back, the failure mode enableOfflineQueue cannot catch.
 */
async function stallableRelay() {
  let stalled = false;
  const held: Array<{ upstream: net.Socket; data: Buffer }> = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((downstream) => {
    const upstream = net.connect(6379, '127.0.0.1');
    sockets.add(downstream).add(upstream);
    upstream.pipe(downstream);
    downstream.on('data', (data) => (stalled ? held.push({ upstream, data }) : upstream.write(data)));
    downstream.on('error', () => upstream.destroy());
    upstream.on('error', () => downstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stall: () => (stalled = true),
    resume: () => {
      stalled = false;
      for (const { upstream, data } of held.splice(0)) upstream.write(data);
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('Redis stalled (connected, but not answering)', () => {
  it('gives up within the deadline and hands back a hold that lands late', { timeout: 10_000 }, async () => {
    const relay = await stallableRelay();
    // No commandTimeout on this client, on purpose: the limiter's own deadline must suffice.
    const redis = await connectTestRedis({ port: relay.port, commandTimeout: undefined });
    const direct = await connectTestRedis();
    try {
      const limiter = createRedisRateLimiter(redis, { prefix, timeoutMs: 100 });
      const key = 'premium:grading:late';
      relay.stall();
      await expect(limiter.reserveTokens(key, spec, 400)).rejects.toBeInstanceOf(LimiterUnavailableError);
      expect(limiter.redisHealthy()).toBe(false);
      expect((await limiter.hitRequest(key, spec)).allowed).toBe(true); // insurance answered
      relay.resume(); // the stalled reservation now executes on Redis...
      const observer = createRedisRateLimiter(direct, { prefix });
      // ...and is given straight back, because its caller was already told it failed.
      // resetSec > 0 proves the hold did land (the window opened); remaining proves it went back.
      await vi.waitFor(
        async () => {
          const tokens = (await observer.peek(key, spec)).tokensPerDay;
          expect(tokens?.resetSec).toBeGreaterThan(0);
          expect(tokens?.remaining).toBe(1000);
        },
        { timeout: 5000, interval: 25 },
      );
    } finally {
      redis.disconnect();
      direct.disconnect();
      relay.close();
    }
  });
});

afterAll(async () => {
  const redis = await connectTestRedis();
  await deletePrefix(redis, prefix);
  await redis.quit();
});
