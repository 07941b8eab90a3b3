import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoDay, isoMonth } from './clock.js';

const plain = (ms: number) => new Date(ms).toISOString();

describe('isoDay and isoMonth', () => {
  it('name the UTC day and month of any time, whatever was asked before', () => {
    // Times near one another (same day, either side of midnight) and far apart, in any order.
    const midnight = fc.integer({ min: -20_000, max: 60_000 }).map((d) => d * 86_400_000);
    const time = fc.oneof(
      fc.integer({ min: -8.64e15, max: 8.64e15 }),
      fc.tuple(midnight, fc.integer({ min: -3, max: 3 })).map(([m, d]) => m + d),
      fc.tuple(midnight, fc.double({ min: -2, max: 2, noNaN: true })).map(([m, d]) => m + d),
    );
    fc.assert(
      fc.property(fc.array(time, { minLength: 1, maxLength: 20 }), (times) => {
        for (const ms of times) {
          expect(isoDay(ms)).toBe(plain(ms).slice(0, 10));
          expect(isoMonth(ms)).toBe(plain(ms).slice(0, 7));
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('names the day of a fraction of a millisecond as Date does, toward zero', () => {
    for (const ms of [-0.5, -86_400_000.5, -86_400_000 + 0.5, 86_400_000 - 0.5, 0.5]) {
      expect(isoDay(ms), String(ms)).toBe(plain(ms).slice(0, 10));
      expect(isoDay(ms - 1), String(ms - 1)).toBe(plain(ms - 1).slice(0, 10));
    }
  });

  it('throws for a time that is not one, as Date does, and then still answers', () => {
    isoDay(Date.UTC(2026, 10, 29, 12));
    expect(() => isoDay(Number.NaN)).toThrow(RangeError);
    expect(() => isoMonth(9e15)).toThrow(RangeError);
    expect(isoDay(Date.UTC(2026, 10, 29, 23, 59, 59, 999))).toBe('2026-11-29');
    expect(isoDay(Date.UTC(2026, 10, 30))).toBe('2026-11-30');
    expect(isoMonth(Date.UTC(2026, 11, 1) - 1)).toBe('2026-11');
  });
});
