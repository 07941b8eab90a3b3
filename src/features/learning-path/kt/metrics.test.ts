import { describe, expect, it } from 'vitest';
import { auc, logLoss, rmse } from './metrics.js';

describe('auc', () => {
  it('is 1 for a perfect ranking and 0 for a reversed one', () => {
    expect(auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])).toBe(1);
    expect(auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9])).toBe(0);
  });

  it('counts the share of correctly ordered positive/negative pairs', () => {
    // Pairs (pos, neg): (0.35 vs 0.1) ok, (0.35 vs 0.4) wrong, (0.8 vs 0.1) ok, (0.8 vs 0.4) ok -> 3/4.
    expect(auc([0, 1, 0, 1], [0.1, 0.35, 0.4, 0.8])).toBeCloseTo(0.75, 12);
  });

  it('gives ties half credit', () => {
    expect(auc([0, 1], [0.5, 0.5])).toBe(0.5);
    expect(auc([0, 1, 1, 0, 1], [0.3, 0.3, 0.3, 0.3, 0.3])).toBe(0.5);
    // pos {0.5, 0.9}, neg {0.5, 0.1}: (0.5~0.5) 0.5, (0.5>0.1) 1, (0.9>0.5) 1, (0.9>0.1) 1 -> 3.5/4.
    expect(auc([1, 0, 1, 0], [0.5, 0.5, 0.9, 0.1])).toBeCloseTo(0.875, 12);
  });

  it('accepts booleans and is undefined with a single class', () => {
    expect(auc([true, false], [0.9, 0.1])).toBe(1);
    expect(auc([1, 1], [0.2, 0.3])).toBeNaN();
  });
});

describe('rmse and logLoss', () => {
  it('match hand computations', () => {
    expect(rmse([1, 0], [0.5, 0.5])).toBeCloseTo(0.5, 12);
    expect(rmse([1, 0, 1], [1, 0, 0])).toBeCloseTo(Math.sqrt(1 / 3), 12);
    expect(logLoss([1, 0], [0.5, 0.5])).toBeCloseTo(Math.log(2), 12);
  });
});
