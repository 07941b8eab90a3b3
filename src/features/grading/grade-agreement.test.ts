import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exactAgreement, gradesDisagree, quadraticWeightedKappa } from './grade-agreement.js';

describe('grade agreement', () => {
  it('compares score fractions, not raw scores', () => {
    expect(gradesDisagree({ score: 1, maxScore: 2 }, { score: 5, maxScore: 10 }, 0)).toBe(false);
    expect(gradesDisagree({ score: 2, maxScore: 2 }, { score: 1, maxScore: 2 }, 0.25)).toBe(true);
    expect(gradesDisagree({ score: 2, maxScore: 4 }, { score: 3, maxScore: 4 }, 0.25)).toBe(false);
  });

  it('QWK: 1 for identical ratings, about 0 for independent ones, negative for reversed', () => {
    const same: Array<[number, number]> = [[0, 0], [1, 1], [2, 2], [1, 1]];
    expect(quadraticWeightedKappa(same, 0, 2)).toBeCloseTo(1);
    const reversed: Array<[number, number]> = [[0, 2], [2, 0], [1, 1], [0, 2], [2, 0]];
    expect(quadraticWeightedKappa(reversed, 0, 2)).toBeLessThan(0);
    const independent: Array<[number, number]> = [];
    for (const a of [0, 1, 2]) for (const b of [0, 1, 2]) independent.push([a, b]);
    expect(quadraticWeightedKappa(independent, 0, 2)).toBeCloseTo(0);
  });

  it('QWK matches a hand-computed value', () => {
    // Observed [[1,1],[0,2]]; marginals A=(2,2), B=(1,3); expected disagreement 2*3/4 + 2*1/4 = 2; observed 1.
    expect(quadraticWeightedKappa([[0, 0], [0, 1], [1, 1], [1, 1]], 0, 1)).toBeCloseTo(0.5);
  });

  // A rubric may score up to 1,000 points × weight 100 per criterion; calibration rates on
  // that whole range, which a k × k table cannot hold (the server ran out of memory).
  it('QWK does not depend on the width of the rating range, however wide', () => {
    const pairs: Array<[number, number]> = [[0, 0], [0, 1], [1, 1], [1, 1]];
    expect(quadraticWeightedKappa(pairs, 0, 2 ** 33)).toBeCloseTo(0.5);
    const wide: Array<[number, number]> = [[0, 100_000], [50_000, 50_000], [100_000, 90_000], [20_000, 30_000]];
    const narrow = wide.map(([a, b]): [number, number] => [a / 10_000, b / 10_000]);
    expect(quadraticWeightedKappa(wide, 0, 100_000)).toBeCloseTo(quadraticWeightedKappa(narrow, 0, 10));
  });

  it('QWK from sums equals the textbook k × k table on small ranges', () => {
    const table = (pairs: Array<[number, number]>, k: number): number => {
      const obs = Array.from({ length: k }, () => new Array<number>(k).fill(0));
      const ha = new Array<number>(k).fill(0);
      const hb = new Array<number>(k).fill(0);
      for (const [a, b] of pairs) (obs[a]![b]!++, ha[a]!++, hb[b]!++);
      let num = 0;
      let den = 0;
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
        const w = k === 1 ? 0 : (i - j) ** 2 / (k - 1) ** 2;
        num += w * obs[i]![j]!;
        den += (w * ha[i]! * hb[j]!) / pairs.length;
      }
      return den === 0 ? (num === 0 ? 1 : 0) : 1 - num / den;
    };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }).chain((k) => fc.tuple(fc.constant(k), fc.array(fc.tuple(fc.integer({ min: 0, max: k - 1 }), fc.integer({ min: 0, max: k - 1 })), { minLength: 1, maxLength: 30 }))), ([k, pairs]) => {
        expect(quadraticWeightedKappa(pairs, 0, k - 1)).toBeCloseTo(table(pairs, k), 9);
      }),
    );
  });

  it('rejects ratings outside the range', () => {
    expect(() => quadraticWeightedKappa([[0, 3]], 0, 2)).toThrow(RangeError);
  });

  it('exact agreement', () => {
    expect(exactAgreement([[1, 1], [2, 1], [0, 0], [2, 2]])).toBe(0.75);
  });
});
