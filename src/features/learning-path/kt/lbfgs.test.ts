import { describe, expect, it } from 'vitest';
import { minimizeLbfgs } from './lbfgs.js';

// f = (x+2)^2 + (y-3)^2 + (x-y)^2 / 2: coupled, so the bound on x also moves y.
function fg(w: Float64Array, g: Float64Array): number {
  const [x, y] = [w[0]!, w[1]!];
  g[0] = 2 * (x + 2) + (x - y);
  g[1] = 2 * (y - 3) - (x - y);
  return (x + 2) ** 2 + (y - 3) ** 2 + (x - y) ** 2 / 2;
}

describe('minimizeLbfgs', () => {
  it('finds the unconstrained minimum', () => {
    // Stationary: 3x - y = -4, -x + 3y = 6  ->  x = -0.75, y = 1.75.
    const r = minimizeLbfgs(fg, new Float64Array([5, 5]));
    expect(r.w[0]).toBeCloseTo(-0.75, 6);
    expect(r.w[1]).toBeCloseTo(1.75, 6);
  });

  it('stops at a lower bound and minimises the free coordinates there', () => {
    // x >= 0 is active at the optimum; then y minimises (y-3)^2 + y^2/2: y = 2 (to the
    // precision the relative stopping rule allows).
    const r = minimizeLbfgs(fg, new Float64Array([5, -5]), { lower: new Float64Array([0, -Infinity]) });
    expect(r.w[0]).toBe(0);
    expect(r.w[1]).toBeCloseTo(2, 4);
  });

  it('projects an infeasible start onto the bounds', () => {
    const r = minimizeLbfgs(fg, new Float64Array([-9, 0]), { lower: new Float64Array([0, -Infinity]), maxIter: 0 });
    expect(r.w[0]).toBe(0);
  });
});
