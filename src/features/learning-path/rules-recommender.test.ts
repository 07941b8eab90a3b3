import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateCatalog } from './catalog.js';
import type { Catalog, CatalogItem } from './catalog.schema.js';
import { prepareCatalog } from './prepared-catalog.js';
import { syntheticCatalog } from './synthetic-catalog.js';
import { recommend, type RecommendInput } from './rules-recommender.js';

const catalog = validateCatalog(JSON.parse(readFileSync(new URL('./demo-catalog.json', import.meta.url), 'utf8')));
const NOW = Date.UTC(2025, 0, 15);
const DAY = 86_400_000;

function input(overrides: Partial<RecommendInput> & { masteryOf?: Record<string, number> }): RecommendInput {
  const m = overrides.masteryOf ?? { 'whole-numbers': 0.9 };
  return {
    catalog,
    mastery: (s) => m[s] ?? 0.1,
    pSuccess: (item: CatalogItem) => 1 - item.difficulty,
    history: [],
    count: 5,
    tier: 'free',
    now: NOW,
    ...overrides,
  };
}

describe('recommend', () => {
  it('only offers items whose prerequisites are mastered and that teach something unmastered', () => {
    const r = recommend(input({}));
    expect(r.items.length).toBe(5);
    const skillsOf = new Map(catalog.items.map((i) => [i.id, i.skills]));
    const allowed = new Set(['whole-numbers', 'factors', 'fractions-intro', 'negative-numbers']);
    for (const rec of r.items) {
      for (const s of skillsOf.get(rec.itemId)!) expect(allowed.has(s) && s !== 'whole-numbers').toBe(true);
    }
    expect(new Set(r.items.map((i) => i.itemId)).size).toBe(r.items.length);
    expect(r.rationale.length).toBeGreaterThan(20);
    expect(r.items.every((i) => i.reasons.length > 0)).toBe(true);
  });

  it('respects tiers', () => {
    const premiumOnly = catalog.items.filter((i) => i.tiers && !i.tiers.includes('free')).map((i) => i.id);
    const masteredFirstSix = new Set(catalog.skills.slice(0, 6).map((s) => s.id));
    const m = (s: string) => (masteredFirstSix.has(s) ? 0.9 : 0.1);
    const free = recommend({ ...input({}), mastery: m, count: 100 });
    expect(free.items.length).toBeGreaterThan(0);
    expect(free.items.map((i) => i.itemId).filter((id) => premiumOnly.includes(id))).toEqual([]);
    const prem = recommend({ ...input({}), mastery: m, count: 100, tier: 'premium' });
    expect(prem.items.map((i) => i.itemId)).toContain('negative-numbers-practice-2');
  });

  it('favours the goal path, penalises recent items, and brings back fading mastered skills', () => {
    const goal = recommend(input({ goal: 'negative-numbers', count: 2 }));
    expect(goal.items.map((i) => catalog.items.find((x) => x.id === i.itemId)!.skills)).toEqual([
      ['negative-numbers'],
      ['negative-numbers'],
    ]);
    const first = goal.items[0]!.itemId;
    const after = recommend(input({ goal: 'negative-numbers', count: 2, history: [{ itemId: first, at: NOW - 60_000, correct: true }] }));
    expect(after.items.map((i) => i.itemId)).not.toContain(first);

    const stale = recommend(
      input({
        count: 40,
        history: [{ itemId: 'whole-numbers-practice-1', at: NOW - 30 * DAY, correct: true }],
      }),
    );
    const review = stale.items.find((i) => i.itemId === 'whole-numbers-practice-2');
    expect(review?.reasons.some((x) => x.startsWith('review:'))).toBe(true);
    const fresh = recommend(input({ count: 40, history: [{ itemId: 'whole-numbers-practice-1', at: NOW - DAY, correct: true }] }));
    expect(fresh.items.some((i) => i.itemId === 'whole-numbers-practice-2')).toBe(false);
  });

  it('is deterministic and breaks ties by id', () => {
    const flat: Catalog = {
      version: 'x',
      skills: [{ id: 's', name: 'S', prerequisites: [] }],
      items: ['c', 'a', 'b'].map((id) => ({ id, title: id, kind: 'exercise' as const, skills: ['s'], difficulty: 0.3, minutes: 5 })),
    };
    const r = recommend({ ...input({}), catalog: flat, mastery: () => 0.2, count: 3 });
    expect(r.items.map((i) => i.itemId)).toEqual(['a', 'b', 'c']);
    expect(recommend({ ...input({}), catalog: flat, mastery: () => 0.2, count: 3 })).toEqual(r);
  });

  // Its speed (target 2 ms p50) is measured by bench/learning-path.bench.ts, not asserted here.
  it('recommends from a 2,000-item catalog, prepared once or not, with the same answer', () => {
    const big = syntheticCatalog(200, 2000);
    const pc = prepareCatalog(big);
    const mastery = (s: string) => ((s.charCodeAt(s.length - 1) * 37) % 100) / 100;
    const args = { ...input({}), catalog: pc, mastery, count: 10, history: [] };
    const r = recommend(args);
    const ids = new Set(big.items.map((i) => i.id));
    expect(r.items).toHaveLength(10);
    expect(new Set(r.items.map((i) => i.itemId)).size).toBe(10);
    for (const i of r.items) expect(ids.has(i.itemId)).toBe(true);
    expect(recommend({ ...args, catalog: big })).toEqual(r);
  });
});

describe('syntheticCatalog', () => {
  it('is a valid catalog (so the speed test measures a realistic shape)', () => {
    expect(() => validateCatalog(syntheticCatalog(200, 2000))).not.toThrow();
  });
});
