import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, RLWrapperTimeouts, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { addressHash } from '../../platform/pseudonym.js';

export interface AuthFailureLimiterOptions {
  /** shared counter across instances; without it each instance counts on its own */
  redis?: Redis;
  prefix?: string;
  /** failures allowed per IP per minute before it is refused (default 20) */
  failuresPerMinute?: number;
  /** how long an IP stays refused once over the limit (default 60 s) */
  blockSec?: number;
  /** deadline for one Redis call before falling back to the in-memory limiter (default 250 ms) */
  timeoutMs?: number;
}

export interface AuthGate {
  allowed: boolean;
  retryAfterSec: number;
  /** Retry-After when refused */
  headers: Record<string, string>;
}

export interface AuthFailureLimiter {
  /** call before verifying credentials; does not count anything */
  check(ip: string): Promise<AuthGate>;
  /** call after a failed credential check; the failure that crosses the limit already answers 429 */
  recordFailure(ip: string): Promise<AuthGate>;
}

/**
 * Pre-auth brute-force guard keyed by client IP. The caller must pass the IP Fastify resolved
 * with `trustProxy` limited to its own proxies; a raw X-Forwarded-For would let an attacker pick
 * a fresh key per request. Successful logins deliberately do not reset the counter, or an
 * attacker holding one valid credential could interleave it to keep guessing others.
 * Built on rate-limiter-flexible (single fixed window is exactly its model): Redis when given,
 * with its in-memory insuranceLimiter so a Redis outage degrades to per-instance counting.
 */
export function createAuthFailureLimiter(opts: AuthFailureLimiterOptions = {}): AuthFailureLimiter {
  const points = opts.failuresPerMinute ?? 20;
  const blockDuration = opts.blockSec ?? 60;
  const keyPrefix = `${opts.prefix ?? 'tg:rl'}:authfail`;
  const memory = new RateLimiterMemory({ keyPrefix, points, duration: 60 });
  const limiter: RateLimiterAbstract = opts.redis
    ? (new RLWrapperTimeouts({
        limiter: new RateLimiterRedis({
          storeClient: opts.redis, // ioredis: no useRedisPackage (that flag is for node-redis)
          rejectIfRedisNotReady: true, // go to insurance at once instead of queueing on a dead link
          keyPrefix,
          points,
          duration: 60,
          insuranceLimiter: memory,
        }),
        timeoutMs: opts.timeoutMs ?? 250,
      }) as unknown as RateLimiterAbstract)
    : memory;

  const gate = (allowed: boolean, msBeforeNext: number): AuthGate => {
    if (allowed) return { allowed: true, retryAfterSec: 0, headers: {} };
    const retryAfterSec = Math.max(1, Math.ceil(msBeforeNext / 1000));
    return { allowed: false, retryAfterSec, headers: { 'Retry-After': String(retryAfterSec) } };
  };

  return {
    async check(ip) {
      const res = await limiter.get(addressHash(ip));
      if (!res || res.consumedPoints < points) return gate(true, 0);
      return gate(false, res.msBeforeNext);
    },
    async recordFailure(ip) {
      let res: RateLimiterRes;
      try {
        res = await limiter.consume(addressHash(ip));
      } catch (rej) {
        // Over the limit already (a request that passed check() concurrently): still refused.
        if (rej instanceof RateLimiterRes) return gate(false, rej.msBeforeNext);
        throw rej;
      }
      if (res.consumedPoints < points) return gate(true, 0);
      // The failure that reaches the limit starts the block; block() rewrites the key's
      // expiry, so the IP stays refused for blockSec even if the minute window was nearly over.
      if (res.consumedPoints === points && blockDuration * 1000 > res.msBeforeNext) {
        res = await limiter.block(addressHash(ip), blockDuration);
      }
      return gate(false, res.msBeforeNext);
    },
  };
}
