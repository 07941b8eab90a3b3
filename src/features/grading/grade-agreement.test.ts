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

  it('rejects ratings outside the range', () => {
    expect(() => quadraticWeightedKappa([[0, 3]], 0, 2)).toThrow(RangeError);
  });

  it('exact agreement', () => {
    expect(exactAgreement([[1, 1], [2, 1], [0, 0], [2, 2]])).toBe(0.75);
  });
});
