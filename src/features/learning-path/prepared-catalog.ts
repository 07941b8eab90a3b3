import type { Catalog, CatalogItem } from './catalog.schema.js';

/**
 * Per-catalog indexes, built once so each recommendation is a linear pass over typed
 * arrays instead of repeated lookups by id. Assumes a catalog that passed validateCatalog.
 */
export interface PreparedCatalog {
  readonly catalog: Catalog;
  readonly skillIds: readonly string[];
  readonly skillNames: readonly string[];
  readonly skillIndex: ReadonlyMap<string, number>;
  readonly itemIndex: ReadonlyMap<string, number>;
  readonly items: readonly CatalogItem[];
  /** Skill indices per item. */
  readonly itemSkills: readonly Int32Array[];
  /** Direct prerequisite skill indices per skill. */
  readonly prerequisites: readonly Int32Array[];
  /** 1 where the skill is the goal or one of its transitive prerequisites (cached per goal). */
  goalMask(goalSkillId: string): Uint8Array | undefined;
  /** 1 where the item is visible to the tier (cached per tier). */
  tierMask(tier: string): Uint8Array;
}

const cache = new WeakMap<Catalog, PreparedCatalog>();

export function prepareCatalog(catalog: Catalog): PreparedCatalog {
  const hit = cache.get(catalog);
  if (hit) return hit;
  const skillIds = catalog.skills.map((s) => s.id);
  const skillIndex = new Map(skillIds.map((id, i) => [id, i]));
  const toIdx = (ids: readonly string[]) => Int32Array.from(ids.filter((id) => skillIndex.has(id)), (id) => skillIndex.get(id)!);
  const prerequisites = catalog.skills.map((s) => toIdx(s.prerequisites));
  const items = catalog.items;
  const goals = new Map<string, Uint8Array>();
  const tiers = new Map<string, Uint8Array>();
  const prepared: PreparedCatalog = {
    catalog,
    skillIds,
    skillNames: catalog.skills.map((s) => s.name),
    skillIndex,
    itemIndex: new Map(items.map((it, i) => [it.id, i])),
    items,
    itemSkills: items.map((it) => toIdx(it.skills)),
    prerequisites,
    goalMask(goal) {
      const g = skillIndex.get(goal);
      if (g === undefined) return undefined;
      let mask = goals.get(goal);
      if (!mask) {
        mask = new Uint8Array(skillIds.length);
        const stack = [g];
        while (stack.length > 0) {
          const s = stack.pop()!;
          if (mask[s]) continue;
          mask[s] = 1;
          for (const p of prerequisites[s]!) stack.push(p);
        }
        goals.set(goal, mask);
      }
      return mask;
    },
    tierMask(tier) {
      let mask = tiers.get(tier);
      if (!mask) {
        mask = Uint8Array.from(items, (it) => (!it.tiers || it.tiers.includes(tier) ? 1 : 0));
        tiers.set(tier, mask);
      }
      return mask;
    },
  };
  cache.set(catalog, prepared);
  return prepared;
}
