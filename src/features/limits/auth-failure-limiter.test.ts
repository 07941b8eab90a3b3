import { afterAll, describe, expect, it } from 'vitest';
import { createAuthFailureLimiter } from './auth-failure-limiter.js';
import { connectTestRedis, deletePrefix, testPrefix } from './rate-limiter.cases.js';

const prefix = testPrefix('auth-failure-limiter');
const redis = await connectTestRedis();
afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('auth failure limiter', () => {
  it('answers 429 from the 20th failure on, for that IP only, across instances', async () => {
    const other = await connectTestRedis();
    try {
      const a = createAuthFailureLimiter({ redis, prefix });
      const b = createAuthFailureLimiter({ redis: other, prefix });
      const ip = '198.51.100.7';
      const results = await Promise.all(Array.from({ length: 25 }, (_, i) => (i % 2 ? a : b).recordFailure(ip)));
      expect(results.filter((r) => r.allowed)).toHaveLength(19);
      const gate = await a.check(ip);
      expect(gate.allowed).toBe(false);
      expect(gate.retryAfterSec).toBeGreaterThanOrEqual(1);
      expect(gate.headers['Retry-After']).toBe(String(gate.retryAfterSec));
      expect((await b.check('198.51.100.8')).allowed).toBe(true);
    } finally {
      await other.quit();
    }
  });

  it('keeps the IP blocked for blockSec even when the minute window is about to end', async () => {
    const auth = createAuthFailureLimiter({ redis, prefix, failuresPerMinute: 3, blockSec: 900 });
    const ip = '198.51.100.9';
    for (let i = 0; i < 3; i++) await auth.recordFailure(ip);
    expect((await auth.check(ip)).retryAfterSec).toBeGreaterThan(60);
  });

  it('counts failures only: check() alone never locks anyone out', async () => {
    const auth = createAuthFailureLimiter({ failuresPerMinute: 2 }); // in-memory
    for (let i = 0; i < 10; i++) expect((await auth.check('192.0.2.1')).allowed).toBe(true);
  });
});
