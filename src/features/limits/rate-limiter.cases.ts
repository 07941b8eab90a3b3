// Behavioural cases shared by the memory and Redis backends, so both keep one contract.
import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { LimitSpec, RateLimiter } from './limit-types.js';

export interface LimiterHarness {
  /** `n` limiters that share state, as n service instances would (each with its own connection for Redis) */
  instances(n: number): Promise<RateLimiter[]>;
}

/** Client options the README asks callers to use: fail fast, never queue while disconnected. */
export const FAIL_FAST_REDIS: RedisOptions = {
  host: '127.0.0.1',
  port: 6379,
  enableOfflineQueue: false,
  commandTimeout: 1000,
  maxRetriesPerRequest: 1,
};

export async function connectTestRedis(options: RedisOptions = {}): Promise<Redis> {
  const redis = new Redis({ ...FAIL_FAST_REDIS, ...options });
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  return redis;
}

/** A prefix nobody else uses, so parallel test files never share keys. */
export const testPrefix = (file: string) => `tgtest:${file}:${randomUUID()}`;

export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
}

export function defineRateLimiterCases(backend: string, harness: LimiterHarness): void {
  let n = 0;
  // Fresh principal per case: cases never see each other's counters.
  const principal = (tier = 'premium') => `${tier}:grading:user-${++n}-${randomUUID().slice(0, 8)}`;
  const closers: RateLimiter[] = [];
  const instances = async (count: number) => {
    const list = await harness.instances(count);
    closers.push(...list);
    return list;
  };
  afterAll(async () => {
    for (const l of closers) await l.close?.();
  });

  describe(`${backend} rate limiter contract`, () => {
    it('admits exactly L of a concurrent 5L burst spread over three instances', async () => {
      const L = 40;
      const [a, b, c] = await instances(3);
      const key = principal();
      const spec: LimitSpec = { requestsPerMinute: L };
      const all = [a!, b!, c!];
      const decisions = await Promise.all(Array.from({ length: 5 * L }, (_, i) => all[i % 3]!.hitRequest(key, spec)));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(L);
      const refused = decisions.filter((d) => !d.allowed);
      expect(refused.every((d) => d.violated === 'requestsPerMinute' && d.retryAfterSec >= 1)).toBe(true);
      expect(refused[0]!.headers['Retry-After']).toBe(String(refused[0]!.retryAfterSec));
      expect((await a!.peek(key, spec)).requestsPerMinute?.remaining).toBe(0);
    });

    it('gives the minute point back when the hour window refuses', async () => {
      const [limiter] = await instances(1);
      const key = principal();
      const spec: LimitSpec = { requestsPerMinute: 10, requestsPerHour: 3 };
      for (let i = 0; i < 3; i++) expect((await limiter!.hitRequest(key, spec)).allowed).toBe(true);
      const refused = await limiter!.hitRequest(key, spec);
      expect(refused).toMatchObject({ allowed: false, violated: 'requestsPerHour' });
      const usage = await limiter!.peek(key, spec);
      expect(usage.requestsPerMinute?.remaining).toBe(7);
      expect(usage.requestsPerHour?.remaining).toBe(0);
    });

    it('when both windows are full, names the hour: a retry after the minute would be refused again', async () => {
      const [limiter] = await instances(1);
      const key = principal();
      const spec: LimitSpec = { requestsPerMinute: 2, requestsPerHour: 2 };
      await limiter!.hitRequest(key, spec);
      const last = await limiter!.hitRequest(key, spec);
      expect(last.allowed).toBe(true);
      expect(last.headers.RateLimit).toMatch(/^"hour";r=0;t=(3[5-6]\d\d)$/);
      const refused = await limiter!.hitRequest(key, spec);
      expect(refused).toMatchObject({ allowed: false, violated: 'requestsPerHour' });
      expect(refused.retryAfterSec).toBeGreaterThan(3500);
      expect(refused.headers['Retry-After']).toBe(String(refused.retryAfterSec));
      expect(refused.headers.RateLimit).toMatch(/^"hour";r=0;/);
    });

    it('gives back the point of a request refused after admission, in every window, never below zero', async () => {
      const [limiter] = await instances(1);
      const key = principal();
      const spec: LimitSpec = { requestsPerMinute: 2, requestsPerHour: 100 };
      expect((await limiter!.hitRequest(key, spec)).allowed).toBe(true);
      const admitted = await limiter!.hitRequest(key, spec);
      expect(admitted.allowed).toBe(true);
      await limiter!.refundRequest(key, spec, admitted);
      const usage = await limiter!.peek(key, spec);
      expect(usage.requestsPerMinute?.remaining).toBe(1);
      expect(usage.requestsPerHour?.remaining).toBe(99);
      expect((await limiter!.hitRequest(key, spec)).allowed).toBe(true);
      expect((await limiter!.hitRequest(key, spec)).allowed).toBe(false);
      const fresh = principal();
      await limiter!.refundRequest(fresh, spec, admitted); // nothing taken: nothing to give, no credit either
      expect((await limiter!.peek(fresh, spec)).requestsPerMinute?.remaining).toBe(2);
      // A refund given twice in an open window (a retried refusal) stops at zero: no credit either.
      const twice = principal();
      const once = await limiter!.hitRequest(twice, spec);
      await limiter!.refundRequest(twice, spec, once);
      await limiter!.refundRequest(twice, spec, once);
      expect((await limiter!.peek(twice, spec)).requestsPerMinute?.remaining).toBe(2);
      expect((await limiter!.hitRequest(twice, spec)).allowed).toBe(true);
      expect((await limiter!.hitRequest(twice, spec)).allowed).toBe(true);
      expect((await limiter!.hitRequest(twice, spec)).allowed).toBe(false);
    });

    it('charges the hour nothing when the minute window refuses', async () => {
      const [limiter] = await instances(1);
      const key = principal();
      const spec: LimitSpec = { requestsPerMinute: 2, requestsPerHour: 100 };
      await limiter!.hitRequest(key, spec);
      await limiter!.hitRequest(key, spec);
      for (let i = 0; i < 5; i++) expect((await limiter!.hitRequest(key, spec)).violated).toBe('requestsPerMinute');
      expect((await limiter!.peek(key, spec)).requestsPerHour?.remaining).toBe(98);
    });

    it('reports the tightest window in RateLimit and every window in RateLimit-Policy', async () => {
      const [limiter] = await instances(1);
      const key = principal();
      const spec: LimitSpec = { requestsPerMinute: 30, requestsPerHour: 600 };
      const d = await limiter!.hitRequest(key, spec);
      expect(d.headers['RateLimit-Policy']).toBe('"minute";q=30;w=60, "hour";q=600;w=3600');
      expect(d.headers['RateLimit']).toMatch(/^"minute";r=29;t=(59|60)$/);
    });

    it('keeps concurrent token reservations within the daily limit and settles to actual usage', async () => {
      const [a, b] = await instances(2);
      const key = principal();
      const spec: LimitSpec = { tokensPerDay: 1000 };
      const reservations = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? a! : b!).reserveTokens(key, spec, 100)),
      );
      const held = reservations.filter((r) => r.allowed);
      // All 20 would be 2000 tokens: admitted estimates may never sum past the limit.
      expect(held).toHaveLength(10);
      expect(reservations.filter((r) => !r.allowed).every((r) => r.retryAfterSec >= 1)).toBe(true);
      expect((await a!.peek(key, spec)).tokensPerDay?.remaining).toBe(0);

      await Promise.all(held.map((r) => r.settle(40))); // each used less than estimated
      expect((await a!.peek(key, spec)).tokensPerDay?.remaining).toBe(600);
      await held[0]!.settle(1000); // a second settle must not count twice
      expect((await a!.peek(key, spec)).tokensPerDay?.remaining).toBe(600);

      const over = await a!.reserveTokens(key, spec, 100);
      await over.settle(250); // took more than estimated: the excess is charged
      expect((await a!.peek(key, spec)).tokensPerDay?.remaining).toBe(350);

      const aborted = await b!.reserveTokens(key, spec, 300);
      expect(aborted.allowed).toBe(true);
      await aborted.release();
      await aborted.release();
      expect((await a!.peek(key, spec)).tokensPerDay?.remaining).toBe(350);
      expect((await a!.reserveTokens(key, spec, 351)).allowed).toBe(false);
    });

    it('a token refusal that only calls in flight cause says retry in 1 s; one that settled use causes names the reset', async () => {
      const [a, b] = await instances(2);
      const key = principal();
      const spec: LimitSpec = { tokensPerDay: 1000 };
      const first = await a!.reserveTokens(key, spec, 600); // a call in flight, held at its worst case
      const blocked = await b!.reserveTokens(key, spec, 600);
      expect(blocked).toMatchObject({ allowed: false, retryAfterSec: 1 }); // was 86,400: a day
      await first.settle(300); // it really used 300
      const second = await b!.reserveTokens(key, spec, 600);
      expect(second.allowed).toBe(true);
      await second.settle(650); // 950 used, nothing in flight
      const spent = await a!.reserveTokens(key, spec, 100);
      expect(spent.allowed).toBe(false);
      expect(spent.retryAfterSec).toBeGreaterThan(80_000); // the day's window resets: a long wait is the truth
      const released = await a!.reserveTokens(key, spec, 50);
      expect(released.allowed).toBe(true);
      await released.release(); // a release ends its hold too
      expect((await b!.reserveTokens(key, spec, 100)).retryAfterSec).toBeGreaterThan(80_000);
    });

    it('admits 4 of 10 concurrent slot acquires, frees on release, and release is idempotent', async () => {
      const [a, b] = await instances(2);
      const key = principal();
      const leases = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a! : b!).acquireSlot(key, 4)));
      const held = leases.filter((l) => l.allowed);
      expect(held).toHaveLength(4);
      expect((await a!.peek(key, { concurrent: 4 })).concurrent).toEqual({ limit: 4, remaining: 0, resetSec: 0 });
      expect((await a!.acquireSlot(key, 4)).allowed).toBe(false);

      await held[0]!.release();
      await held[0]!.release(); // twice must still free only one slot
      const next = await b!.acquireSlot(key, 4);
      expect(next.allowed).toBe(true);
      expect((await a!.acquireSlot(key, 4)).allowed).toBe(false);
      for (const l of [...held.slice(1), next]) await l.release();
      expect((await a!.peek(key, { concurrent: 4 })).concurrent?.remaining).toBe(4);
    });

    it('isolates keys: flooding one principal never changes another one', async () => {
      const [limiter] = await instances(1);
      const user = `user-${randomUUID()}`;
      const premium = `premium:grading:${user}`;
      const free = `free:grading:${user}`;
      const spec: LimitSpec = { requestsPerMinute: 5, requestsPerHour: 50, tokensPerDay: 500 };
      await limiter!.hitRequest(free, spec);
      const before = await limiter!.peek(free, spec);
      await Promise.all(Array.from({ length: 30 }, () => limiter!.hitRequest(premium, spec)));
      await Promise.all(Array.from({ length: 10 }, () => limiter!.reserveTokens(premium, spec, 100)));
      await Promise.all(Array.from({ length: 6 }, () => limiter!.acquireSlot(premium, 2)));
      expect(await limiter!.peek(free, spec)).toEqual(before);
      expect((await limiter!.hitRequest(free, spec)).allowed).toBe(true);
      expect((await limiter!.acquireSlot(free, 2)).allowed).toBe(true);
    });

    it('peek does not consume', async () => {
      const [limiter] = await instances(1);
      const key = principal('free');
      const spec: LimitSpec = { requestsPerMinute: 3, tokensPerDay: 10, concurrent: 1 };
      for (let i = 0; i < 5; i++) await limiter!.peek(key, spec);
      expect(await limiter!.peek(key, spec)).toEqual({
        requestsPerMinute: { limit: 3, remaining: 3, resetSec: 0 },
        tokensPerDay: { limit: 10, remaining: 10, resetSec: 0 },
        concurrent: { limit: 1, remaining: 1, resetSec: 0 },
      });
    });

    it('treats a spec without limits as unlimited', async () => {
      const [limiter] = await instances(1);
      const key = principal();
      const d = await limiter!.hitRequest(key, {});
      expect(d).toEqual({ allowed: true, retryAfterSec: 0, headers: {} });
      expect((await limiter!.reserveTokens(key, {}, 1e9)).allowed).toBe(true);
    });
  });
}
