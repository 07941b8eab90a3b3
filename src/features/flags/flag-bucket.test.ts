import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf, murmur3_32, utf8Into, variantPoint } from './flag-bucket.js';
import { compileFlag, evaluateCompiled, evaluateFlag } from './flag-evaluator.js';

const ctx = (userId: string) => ({ userId, tier: 'premium', roles: [] });

describe('murmur3_32', () => {
  // Published MurmurHash3 x86_32 vectors: other services can reproduce our buckets.
  it.each([
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['hello', 0, 0x248bfa47],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
    ['ππππππππ', 0x9747b28c, 0xd58063c1],
  ])('hashes %j with seed %i', (text, seed, expected) => {
    expect(murmur3_32(text, seed)).toBe(expected);
  });

  it('handles inputs longer than its scratch buffer', () => {
    const long = 'x'.repeat(5000);
    expect(murmur3_32(long)).toBe(murmur3_32(long));
    expect(murmur3_32(long)).not.toBe(murmur3_32(long + 'y'));
  });
});

describe('bucketOf', () => {
  const ids = Array.from({ length: 100_000 }, (_, i) => `user-${i}`);
  const buckets = ids.map((id) => bucketOf('grading', id));

  it('is stable and within 0..9999', () => {
    expect(bucketOf('grading', 'user-42')).toBe(buckets[42]);
    expect(buckets.every((b) => Number.isInteger(b) && b >= 0 && b <= 9999)).toBe(true);
  });

  it.each([1, 5, 10, 25, 33.33, 50, 75, 90, 99])('a rollout of %s percent over 100,000 users lands within ±1 point', (p) => {
    const flag = compileFlag({ key: 'grading', enabled: true, rollout: p });
    let inCount = 0;
    for (const id of ids) if (evaluateCompiled(flag, ctx(id), 0).enabled) inCount++;
    expect(Math.abs((inCount / ids.length) * 100 - p)).toBeLessThanOrEqual(1);
  });

  it('gives different flags independent populations', () => {
    let both = 0;
    for (const id of ids) if (bucketOf('learning_path', id) < 1000 && bucketOf('learning_path_experiment', id) < 1000) both++;
    // Independent 10% populations overlap on ~1%, correlated ones on up to 10%.
    expect(both / ids.length).toBeGreaterThan(0.005);
    expect(both / ids.length).toBeLessThan(0.015);
  });

  it('raising the rollout never removes a user who was in', () => {
    const percent = fc.integer({ min: 0, max: 10_000 }).map((n) => n / 100);
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), percent, percent, (key, userId, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const wasIn = evaluateFlag({ key, enabled: true, rollout: lo }, ctx(userId), 0).enabled;
        const isIn = evaluateFlag({ key, enabled: true, rollout: hi }, ctx(userId), 0).enabled;
        return !wasIn || isIn;
      }),
      { numRuns: 2000 },
    );
  });
});

describe('variantPoint', () => {
  it('is independent of the rollout bucket', () => {
    // Among users in a 50% rollout, the variant point must still cover [0,1) evenly.
    let enrolled = 0;
    let low = 0;
    for (let i = 0; i < 20_000; i++) {
      const id = `u${i}`;
      if (bucketOf('exp', id) >= 5000) continue;
      enrolled++;
      if (variantPoint('exp', id) < 0.5) low++;
    }
    expect(low / enrolled).toBeGreaterThan(0.47);
    expect(low / enrolled).toBeLessThan(0.53);
  });
});

describe('utf8Into', () => {
  it('produces exactly the bytes TextEncoder does (surrogate pairs, lone surrogates)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (t) => {
        const mine = new Uint8Array(t.length * 3);
        const n = utf8Into(t, mine);
        expect([...mine.subarray(0, n)]).toEqual([...new TextEncoder().encode(t)]);
      }),
    );
  });
});
