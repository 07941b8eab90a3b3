import { createHash } from 'node:crypto';

export interface VariantWeight {
  key: string;
  weight: number;
}

/**
 * Sticky assignment: the same experiment and learner always land in the same variant, with
 * no stored state, and different experiments hash independently (the key is part of the
 * input). SHA-256 rather than a fast hash because assignment is once per request and its
 * uniformity must not depend on id patterns.
 */
export function assignVariant(experimentKey: string, learnerId: string, variants: readonly VariantWeight[]): string {
  if (variants.length === 0) throw new Error('assignVariant: no variants');
  let total = 0;
  for (const v of variants) {
    if (!(v.weight >= 0) || !Number.isFinite(v.weight)) throw new Error(`assignVariant: bad weight for '${v.key}'`);
    total += v.weight;
  }
  if (total <= 0) throw new Error('assignVariant: weights sum to 0');
  const digest = createHash('sha256').update(experimentKey).update('\0').update(learnerId).digest();
  // 48 bits are exact in a double and plenty of resolution for weights.
  const u = digest.readUIntBE(0, 6) / 2 ** 48;
  let acc = 0;
  for (const v of variants) {
    acc += v.weight / total;
    if (u < acc) return v.key;
  }
  return variants[variants.length - 1]!.key;
}

export type Outcome = { variant: string; value: number };
export type ProportionCounts = Record<string, { n: number; successes: number }>;

export interface VariantSummary {
  variant: string;
  n: number;
  mean: number;
  sd: number;
}

export interface VariantComparison extends VariantSummary {
  /** Mean minus control mean. */
  difference: number;
  ci95: [number, number];
  pValue: number;
  /** Cohen's h for proportions, Cohen's d otherwise. */
  effectSize: number;
  effectSizeKind: 'cohens_h' | 'cohens_d';
  method: 'two-proportion-z' | 'welch-t';
}

export interface ExperimentAnalysis {
  control: VariantSummary;
  variants: VariantComparison[];
}

/**
 * Compares every variant with the control: `opts.control`, else a variant named 'control',
 * else the first variant seen.
 * 0/1 outcomes or counts use a two-proportion z-test (pooled SE) for the p-value and
 * Newcombe's hybrid score interval for the difference; other values use Welch's t, which does
 * not assume equal variances.
 */
export function analyzeExperiment(
  data: readonly Outcome[] | ProportionCounts,
  opts: { control?: string } = {},
): ExperimentAnalysis {
  const stats = new Map<string, { n: number; sum: number; sumSq: number }>();
  let binary = true;
  if (Array.isArray(data)) {
    for (const o of data as readonly Outcome[]) {
      if (!Number.isFinite(o.value)) throw new Error(`analyzeExperiment: non-finite value in '${o.variant}'`);
      if (o.value !== 0 && o.value !== 1) binary = false;
      let s = stats.get(o.variant);
      if (!s) stats.set(o.variant, (s = { n: 0, sum: 0, sumSq: 0 }));
      s.n++;
      s.sum += o.value;
      s.sumSq += o.value * o.value;
    }
  } else {
    for (const [variant, c] of Object.entries(data as ProportionCounts)) {
      if (c.successes < 0 || c.successes > c.n) throw new Error(`analyzeExperiment: bad counts for '${variant}'`);
      stats.set(variant, { n: c.n, sum: c.successes, sumSq: c.successes });
    }
  }
  const controlKey = opts.control ?? (stats.has('control') ? 'control' : stats.keys().next().value);
  if (controlKey === undefined || !stats.has(controlKey)) throw new Error('analyzeExperiment: no control data');
  const summary = (variant: string): VariantSummary => {
    const s = stats.get(variant)!;
    const mean = s.n > 0 ? s.sum / s.n : Number.NaN;
    const variance = s.n > 1 ? Math.max(0, (s.sumSq - s.n * mean * mean) / (s.n - 1)) : Number.NaN;
    return { variant, n: s.n, mean, sd: Math.sqrt(variance) };
  };
  const control = summary(controlKey);
  const c = stats.get(controlKey)!;
  const variants: VariantComparison[] = [];
  for (const key of stats.keys()) {
    if (key === controlKey) continue;
    const v = summary(key);
    const t = stats.get(key)!;
    const diff = v.mean - control.mean;
    if (binary) {
      const p1 = control.mean;
      const p2 = v.mean;
      // Not the Wald interval (diff ± z·SE): at 0 % or 100 % its SE is 0, and 0 of 20 against
      // 0 of 20 learners read as a difference known to be exactly 0 (Newcombe 1998, method 10).
      const [l1, u1] = wilsonInterval(c.sum, c.n);
      const [l2, u2] = wilsonInterval(t.sum, t.n);
      const pooled = (c.sum + t.sum) / (c.n + t.n);
      const se0 = Math.sqrt(pooled * (1 - pooled) * (1 / c.n + 1 / t.n));
      const z = se0 > 0 ? diff / se0 : 0;
      variants.push({
        ...v,
        difference: diff,
        ci95: [diff - Math.hypot(p2 - l2, u1 - p1), diff + Math.hypot(u2 - p2, p1 - l1)],
        pValue: 2 * (1 - normalCdf(Math.abs(z))),
        effectSize: 2 * Math.asin(Math.sqrt(p2)) - 2 * Math.asin(Math.sqrt(p1)),
        effectSizeKind: 'cohens_h',
        method: 'two-proportion-z',
      });
    } else {
      const a = (control.sd * control.sd) / c.n;
      const b = (v.sd * v.sd) / t.n;
      const se = Math.sqrt(a + b);
      const df = (a + b) ** 2 / ((a * a) / (c.n - 1) + (b * b) / (t.n - 1));
      const q = studentTQuantile(0.975, df);
      const tStat = se > 0 ? diff / se : 0;
      const pooledSd = Math.sqrt(((c.n - 1) * control.sd ** 2 + (t.n - 1) * v.sd ** 2) / (c.n + t.n - 2));
      variants.push({
        ...v,
        difference: diff,
        ci95: [diff - q * se, diff + q * se],
        pValue: 2 * (1 - studentTCdf(Math.abs(tStat), df)),
        effectSize: pooledSd > 0 ? diff / pooledSd : 0,
        effectSizeKind: 'cohens_d',
        method: 'welch-t',
      });
    }
  }
  return { control, variants };
}

const Z975 = 1.959963984540054;

/** Wilson's score interval for a proportion: inside [0, 1], and not a point at 0 or n successes. */
function wilsonInterval(successes: number, n: number): [number, number] {
  const p = successes / n;
  const z2 = Z975 * Z975;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (Z975 / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** Standard normal CDF via erfc (Numerical Recipes' Chebyshev fit, |error| < 1.2e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r / 2 : r / 2;
}

/** Student t CDF through the regularised incomplete beta function. */
export function studentTCdf(t: number, df: number): number {
  if (!Number.isFinite(df) || df > 1e7) return normalCdf(t);
  const x = df / (df + t * t);
  const tail = 0.5 * incompleteBeta(x, df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

export function studentTQuantile(p: number, df: number): number {
  let lo = -1e3;
  let hi = 1e3;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  // The continued fraction converges fast only on this side; use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-14) break;
  }
  return h;
}

function logGamma(x: number): number {
  // Lanczos approximation (g = 7), accurate to ~1e-15 for x > 0.
  const g = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = g[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += g[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}
