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
 * Quadratic weighted kappa (Cohen) for ratings in [minRating, maxRating].
 * 1 = perfect agreement, 0 = chance level. When both raters use a single
 * identical rating the chance term is degenerate; that is reported as 1.
 *
 * Computed from sums, not from a k × k table of the range: the quadratic weight
 * (i - j)² / (k - 1)² scales observed and chance disagreement alike, so kappa does not
 * depend on the range, and a table over a rubric's whole score range (up to 1,000
 * points × weight 100 per criterion) ran the process out of memory. Chance
 * disagreement, the mean of (a - b)² over every pairing of an A rating with a B
 * rating, is Σ(a - ā)² + Σ(b - b̄)² + n(ā - b̄)² (centred: no precision lost on wide ranges).
 */
export function quadraticWeightedKappa(pairs: ReadonlyArray<readonly [number, number]>, minRating: number, maxRating: number): number {
  if (!Number.isFinite(minRating) || !Number.isFinite(maxRating) || maxRating < minRating) {
    throw new RangeError(`invalid rating range ${minRating}..${maxRating}`);
  }
  if (pairs.length === 0) return Number.NaN;
  for (const [a, b] of pairs) {
    if (!Number.isFinite(a) || !Number.isFinite(b) || a < minRating || a > maxRating || b < minRating || b > maxRating) {
      throw new RangeError(`rating pair (${a}, ${b}) outside range ${minRating}..${maxRating}`);
    }
  }
  const n = pairs.length;
  const meanA = pairs.reduce((s, [a]) => s + a, 0) / n;
  const meanB = pairs.reduce((s, [, b]) => s + b, 0) / n;
  let observed = 0;
  let chance = n * (meanA - meanB) ** 2;
  for (const [a, b] of pairs) {
    observed += (a - b) ** 2;
    chance += (a - meanA) ** 2 + (b - meanB) ** 2;
  }
  if (chance === 0) return observed === 0 ? 1 : 0;
  return 1 - observed / chance;
}
