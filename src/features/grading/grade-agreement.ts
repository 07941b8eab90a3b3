export interface ScoredGrade {
  score: number;
  maxScore: number;
}

const fraction = (g: ScoredGrade): number => (g.maxScore > 0 ? g.score / g.maxScore : 0);

/**
 * True when two grades of the same answer differ by more than `threshold` of
 * the maximum score: the trigger for a second opinion or human review.
 */
export function gradesDisagree(a: ScoredGrade, b: ScoredGrade, threshold: number): boolean {
  return Math.abs(fraction(a) - fraction(b)) > threshold + 1e-12;
}

/** Share of pairs with identical ratings. */
export function exactAgreement(pairs: ReadonlyArray<readonly [number, number]>): number {
  if (pairs.length === 0) return Number.NaN;
  return pairs.filter(([a, b]) => a === b).length / pairs.length;
}

/**
 * Quadratic weighted kappa (Cohen) for integer ratings in [minRating, maxRating].
 * 1 = perfect agreement, 0 = chance level. When both raters use a single
 * identical category the chance term is degenerate; that is reported as 1.
 */
export function quadraticWeightedKappa(pairs: ReadonlyArray<readonly [number, number]>, minRating: number, maxRating: number): number {
  if (!Number.isInteger(minRating) || !Number.isInteger(maxRating) || maxRating < minRating) {
    throw new RangeError(`invalid rating range ${minRating}..${maxRating}`);
  }
  if (pairs.length === 0) return Number.NaN;
  const k = maxRating - minRating + 1;
  const observed = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const histA = new Array<number>(k).fill(0);
  const histB = new Array<number>(k).fill(0);
  for (const [a, b] of pairs) {
    if (!Number.isInteger(a) || !Number.isInteger(b) || a < minRating || a > maxRating || b < minRating || b > maxRating) {
      throw new RangeError(`rating pair (${a}, ${b}) outside integer range ${minRating}..${maxRating}`);
    }
    observed[a - minRating]![b - minRating]!++;
    histA[a - minRating]!++;
    histB[b - minRating]!++;
  }
  const n = pairs.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const w = k === 1 ? 0 : ((i - j) * (i - j)) / ((k - 1) * (k - 1));
      num += w * observed[i]![j]!;
      den += (w * histA[i]! * histB[j]!) / n;
    }
  }
  if (den === 0) return num === 0 ? 1 : 0;
  return 1 - num / den;
}
