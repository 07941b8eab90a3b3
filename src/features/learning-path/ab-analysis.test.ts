import { describe, expect, it } from 'vitest';
import { analyzeExperiment, assignVariant, studentTCdf, studentTQuantile, type Outcome } from './ab-analysis.js';

/** mulberry32: tiny seeded PRNG so simulations are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VARIANTS = [
  { key: 'control', weight: 1 },
  { key: 'llm-path', weight: 1 },
];

const assigned: string[] = [];

function simulate(pControl: number, pTreatment: number, n: number, seed: number): Outcome[] {
  const r = rng(seed);
  // Assignment is deterministic per learner, so hash each learner once across simulations.
  for (let i = assigned.length; i < n; i++) assigned.push(assignVariant('path-exp', `learner-${i}`, VARIANTS));
  return Array.from({ length: n }, (_, i) => {
    const variant = assigned[i]!;
    const p = variant === 'control' ? pControl : pTreatment;
    return { variant, value: r() < p ? 1 : 0 };
  });
}

describe('assignVariant', () => {
  it('is sticky, follows the weights and depends on the experiment key', () => {
    expect(assignVariant('e1', 'u42', VARIANTS)).toBe(assignVariant('e1', 'u42', VARIANTS));
    const weighted = [
      { key: 'a', weight: 9 },
      { key: 'b', weight: 1 },
    ];
    let b = 0;
    let moved = 0;
    for (let i = 0; i < 20_000; i++) {
      if (assignVariant('e1', `u${i}`, weighted) === 'b') b++;
      if (assignVariant('e1', `u${i}`, VARIANTS) !== assignVariant('e2', `u${i}`, VARIANTS)) moved++;
    }
    expect(b / 20_000).toBeGreaterThan(0.09);
    expect(b / 20_000).toBeLessThan(0.11);
    expect(moved / 20_000).toBeGreaterThan(0.45);
    expect(moved / 20_000).toBeLessThan(0.55);
  });
});

describe('analyzeExperiment', () => {
  it('recovers a known effect: the CI holds the true difference and excludes 0', () => {
    const a = analyzeExperiment(simulate(0.6, 0.66, 20_000, 7));
    const v = a.variants[0]!;
    expect(a.control.variant).toBe('control');
    expect(v.method).toBe('two-proportion-z');
    expect(v.ci95[0]).toBeLessThan(0.06);
    expect(v.ci95[1]).toBeGreaterThan(0.06);
    expect(v.ci95[0]).toBeGreaterThan(0);
    expect(v.pValue).toBeLessThan(0.001);
    expect(v.effectSize).toBeGreaterThan(0.08);
    expect(v.effectSize).toBeLessThan(0.16);
  });

  it('with no effect the CI contains 0 (for most seeds, as a 95 % CI should)', () => {
    let covered = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const v = analyzeExperiment(simulate(0.6, 0.6, 4_000, seed)).variants[0]!;
      if (v.ci95[0] <= 0 && v.ci95[1] >= 0) covered++;
    }
    expect(covered).toBeGreaterThanOrEqual(34);
    const v = analyzeExperiment(simulate(0.6, 0.6, 20_000, 3)).variants[0]!;
    expect(v.ci95[0]).toBeLessThan(0);
    expect(v.ci95[1]).toBeGreaterThan(0);
  });

  it('takes counts directly and uses Welch t for continuous outcomes', () => {
    const counts = analyzeExperiment({ control: { n: 1000, successes: 600 }, treat: { n: 1000, successes: 660 } });
    expect(counts.variants[0]!.difference).toBeCloseTo(0.06, 12);
    const r = rng(11);
    const cont: Outcome[] = [];
    for (let i = 0; i < 4000; i++) cont.push({ variant: i % 2 ? 'b' : 'a', value: (i % 2 ? 10.5 : 10) + 2 * (r() - 0.5) * Math.sqrt(3) });
    const v = analyzeExperiment(cont, { control: 'a' }).variants[0]!;
    expect(v.method).toBe('welch-t');
    expect(v.ci95[0]).toBeLessThan(0.5);
    expect(v.ci95[1]).toBeGreaterThan(0.5);
    expect(v.effectSize).toBeCloseTo(0.5, 1);
  });

  it('gives an interval of real width at 0 % or 100 %, where the normal approximation gives none', () => {
    const compare = (control: [number, number], llm: [number, number]) =>
      analyzeExperiment({ control: { successes: control[0], n: control[1] }, llm: { successes: llm[0], n: llm[1] } }).variants[0]!;
    // 0 of 20 against 0 of 20: the interval was [0, 0], a certainty 40 learners cannot give.
    const none = compare([0, 20], [0, 20]);
    expect(none.ci95[0]).toBeLessThan(-0.1);
    expect(none.ci95[1]).toBeGreaterThan(0.1);
    // 0 of 3 against 3 of 3: it was [1, 1]; three learners a side cannot rule out a difference of 0.5.
    const all = compare([0, 3], [3, 3]);
    expect(all.ci95[0]).toBeLessThan(0.5);
    expect(all.ci95[1]).toBeCloseTo(1, 12);
    // 0 of 20 against 3 of 20: the control's 0 % is an estimate too, not a known rate.
    const some = compare([0, 20], [3, 20]);
    expect(some.ci95[0]).toBeLessThan(-0.02); // it was -0.007: the control's side of the interval had no width
    // Always a proper interval: within [-1, 1], around the observed difference, and, with
    // many learners, as narrow as the usual one.
    for (const [c, l] of [[[0, 1], [1, 1]], [[1, 1], [0, 1]], [[5, 9], [9, 9]], [[600, 1000], [660, 1000]]] as [[number, number], [number, number]][]) {
      const v = compare(c, l);
      expect(v.ci95[0]).toBeGreaterThanOrEqual(-1);
      expect(v.ci95[1]).toBeLessThanOrEqual(1);
      expect(v.ci95[0]).toBeLessThan(v.difference + 1e-12);
      expect(v.ci95[1]).toBeGreaterThan(v.difference - 1e-12);
      expect(v.ci95[1] - v.ci95[0]).toBeGreaterThan(0);
    }
    const large = compare([600, 1000], [660, 1000]);
    expect(large.ci95[0]).toBeCloseTo(0.06 - 0.0423, 2);
    expect(large.ci95[1]).toBeCloseTo(0.06 + 0.0423, 2);
  });

  it('has a t distribution matching tables', () => {
    expect(studentTQuantile(0.975, 10)).toBeCloseTo(2.228, 3);
    expect(studentTQuantile(0.975, 1e9)).toBeCloseTo(1.96, 2);
    expect(studentTCdf(0, 5)).toBeCloseTo(0.5, 12);
  });
});
