import { unstorableIn } from '../../platform/unstorable-text.js';
import { catalogSchema, type Catalog } from './catalog.schema.js';

/** Carries every problem found, so an author fixes a catalog in one round trip. */
export class CatalogError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid catalog:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'CatalogError';
  }
}

/**
 * Parses and checks a catalog: shape (zod), duplicate ids, references to unknown skills
 * (reported with their path, e.g. `items[3].skills[0]`) and prerequisite cycles (reported
 * as `a -> b -> c -> a`). Throws CatalogError listing all problems.
 */
export function validateCatalog(raw: unknown): Catalog {
  const parsed = catalogSchema.safeParse(raw);
  if (!parsed.success) {
    throw new CatalogError(parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`));
  }
  const catalog = parsed.data;
  const problems: string[] = [];
  // A file (the CLI import) or a YAML escape can hold what no JSON request could: U+0000
  // (Postgres cannot store it) or half a surrogate pair, which would make the Anthropic API
  // refuse every learning-path call that names the item or skill.
  for (const { at, what } of unstorableIn(catalog, '')) problems.push(`${at.replace(/^\./, '') || '(root)'}: ${what}`);
  const skillIds = new Set<string>();
  catalog.skills.forEach((s, i) => {
    if (skillIds.has(s.id)) problems.push(`skills[${i}].id: duplicate skill id '${s.id}'`);
    skillIds.add(s.id);
  });
  const itemIds = new Set<string>();
  catalog.items.forEach((item, i) => {
    if (itemIds.has(item.id)) problems.push(`items[${i}].id: duplicate item id '${item.id}'`);
    itemIds.add(item.id);
    item.skills.forEach((s, j) => {
      if (!skillIds.has(s)) problems.push(`items[${i}].skills[${j}]: unknown skill '${s}'`);
    });
  });
  catalog.skills.forEach((s, i) => {
    s.prerequisites.forEach((p, j) => {
      if (!skillIds.has(p)) problems.push(`skills[${i}].prerequisites[${j}]: unknown skill '${p}'`);
      else if (p === s.id) problems.push(`skills[${i}].prerequisites[${j}]: skill '${p}' requires itself`);
    });
  });
  for (const cycle of findPrerequisiteCycles(catalog)) {
    problems.push(`prerequisite cycle: ${cycle.join(' -> ')}`);
  }
  if (problems.length > 0) throw new CatalogError(problems);
  return catalog;
}

/**
 * One representative cycle per strongly connected tangle, found by depth-first search;
 * each is given closed (first id repeated at the end). Self-loops are reported elsewhere.
 */
export function findPrerequisiteCycles(catalog: Pick<Catalog, 'skills'>): string[][] {
  const prereqs = new Map(catalog.skills.map((s) => [s.id, s.prerequisites]));
  const state = new Map<string, 1 | 2>(); // 1 = on the current path, 2 = finished
  const path: string[] = [];
  const cycles: string[][] = [];
  const visit = (id: string): void => {
    state.set(id, 1);
    path.push(id);
    for (const p of prereqs.get(id) ?? []) {
      if (p === id || !prereqs.has(p)) continue;
      const st = state.get(p);
      if (st === 1) cycles.push([...path.slice(path.indexOf(p)), p]);
      else if (st === undefined) visit(p);
    }
    path.pop();
    state.set(id, 2);
  };
  // Explicit sort: reports are stable whatever order the author listed skills in.
  for (const id of [...prereqs.keys()].sort()) if (!state.has(id)) visit(id);
  return cycles;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(root)';
}
