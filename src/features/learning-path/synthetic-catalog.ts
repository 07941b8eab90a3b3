import type { Catalog } from './catalog.schema.js';

/**
 * A large, valid, deterministic catalog for load tests and benchmarks: a prerequisite DAG
 * (each skill needs its "parent" and a near sibling), some multi-skill items, and a share of
 * premium-only items so tier filtering is exercised.
 */
export function syntheticCatalog(nSkills: number, nItems: number): Catalog {
  const skills = Array.from({ length: nSkills }, (_, i) => ({
    id: `s${i}`,
    name: `Skill ${i}`,
    prerequisites: i === 0 ? [] : [...new Set([`s${Math.floor(i / 2)}`, ...(i > 3 ? [`s${i - 3}`] : [])])],
  }));
  const kinds = ['lesson', 'exercise', 'review'] as const;
  const items = Array.from({ length: nItems }, (_, i) => ({
    id: `item-${String(i).padStart(5, '0')}`,
    title: `Item ${i}`,
    kind: kinds[i % 3]!,
    skills: i % 7 === 0 ? [...new Set([`s${i % nSkills}`, `s${(i * 13) % nSkills}`])] : [`s${i % nSkills}`],
    difficulty: (i % 10) / 10,
    minutes: 5,
    ...(i % 5 === 0 ? { tiers: ['premium'] } : {}),
  }));
  return { version: 'synthetic', skills, items };
}
