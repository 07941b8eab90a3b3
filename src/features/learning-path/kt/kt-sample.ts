import type { Attempt } from './attempt.js';

// Small real samples of a KT data set, for checks that fit or replay a model quickly
// (the monotonicity test and scripts/kt-monotonicity.ts).

/** The attempts of the first `n` learners, in file order. */
export function firstLearners(rows: readonly Attempt[], n: number): Attempt[] {
  const users = new Set<string>();
  return rows.filter((r) => {
    if (users.size < n) users.add(r.userId);
    return users.has(r.userId);
  });
}

/**
 * Up to `perSkill` items of each of the `skills` most practised skills (by distinct items):
 * known items whose base rates differ, so item- and skill-level weights take part.
 */
export function practisedCatalog(rows: readonly Attempt[], skills: number, perSkill: number): { item: string; skills: string[] }[] {
  const bySkill = new Map<string, Set<string>>();
  for (const r of rows) {
    const s = r.skillIds[0]!;
    if (!bySkill.has(s)) bySkill.set(s, new Set());
    bySkill.get(s)!.add(r.itemId);
  }
  return [...bySkill]
    .sort((a, b) => b[1].size - a[1].size)
    .slice(0, skills)
    .flatMap(([s, items]) => [...items].slice(0, perSkill).map((item) => ({ item, skills: [s] })));
}
