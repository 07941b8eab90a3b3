import { describe, expect, it } from 'vitest';
import { createMemoryRateLimiter } from './memory-rate-limiter.js';
import { defineRateLimiterCases } from './rate-limiter.cases.js';

defineRateLimiterCases('memory', {
  // One process = one shared store; "instances" are just several callers of it.
  async instances(n) {
    const limiter = createMemoryRateLimiter();
    return Array.from({ length: n }, () => limiter);
  },
});

describe('memory rate limiter with an injected clock', () => {
  it('opens a fresh window once the old one has passed', async () => {
    let t = 1_000_000;
    const limiter = createMemoryRateLimiter({ now: () => t });
    const spec = { requestsPerMinute: 2 };
    await limiter.hitRequest('k', spec);
    t += 20_000;
    await limiter.hitRequest('k', spec);
    const refused = await limiter.hitRequest('k', spec);
    expect(refused.retryAfterSec).toBe(40); // window opened at the first hit
    t += 40_000;
    expect((await limiter.hitRequest('k', spec)).allowed).toBe(true);
  });

  it('counts holds of calls in flight until 120 s after the latest hold, not the first', async () => {
    let t = 1_000_000;
    const limiter = createMemoryRateLimiter({ now: () => t });
    const spec = { tokensPerDay: 1000 };
    await (await limiter.reserveTokens('k', spec, 100)).settle(100); // opens the holds window
    t += 115_000;
    const inFlight = await limiter.reserveTokens('k', spec, 800);
    t += 6_000; // 121 s after the first hold, 6 s into this call
    // Only the call in flight stands in the way (100 used + 600 fits): retry in a second, not a day.
    expect(await limiter.reserveTokens('k', spec, 600)).toMatchObject({ allowed: false, retryAfterSec: 1 });
    const small = await limiter.reserveTokens('k', spec, 50);
    await inFlight.settle(10); // its settle must not erase the newer hold
    expect(await limiter.reserveTokens('k', spec, 890)).toMatchObject({ allowed: false, retryAfterSec: 1 });
    await small.release();
    expect((await limiter.reserveTokens('k', spec, 890)).allowed).toBe(true);
  });

  it('frees the slot of a holder that never releases once its lease lapses', async () => {
    let t = 0;
    const limiter = createMemoryRateLimiter({ now: () => t, slotLeaseSec: 30 });
    expect((await limiter.acquireSlot('k', 1)).allowed).toBe(true);
    t += 29_000;
    expect((await limiter.acquireSlot('k', 1)).allowed).toBe(false);
    t += 1_000;
    expect((await limiter.acquireSlot('k', 1)).allowed).toBe(true);
  });
});
