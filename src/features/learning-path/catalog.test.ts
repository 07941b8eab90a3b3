import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CatalogError, validateCatalog } from './catalog.js';

const demo = JSON.parse(readFileSync(new URL('./demo-catalog.json', import.meta.url), 'utf8')) as unknown;

function problemsOf(raw: unknown): string[] {
  try {
    validateCatalog(raw);
  } catch (e) {
    if (e instanceof CatalogError) return e.problems;
    throw e;
  }
  return [];
}

const base = () => ({
  version: 't1',
  skills: [
    { id: 'a', name: 'A', prerequisites: [] },
    { id: 'b', name: 'B', prerequisites: ['a'] },
    { id: 'c', name: 'C', prerequisites: ['b'] },
  ],
  items: [
    { id: 'i1', title: 'I1', kind: 'lesson', skills: ['a'], difficulty: 0.2, minutes: 5 },
    { id: 'i2', title: 'I2', kind: 'exercise', skills: ['b'], difficulty: 0.5, minutes: 5 },
  ],
});

describe('validateCatalog', () => {
  it('accepts the demo catalog', () => {
    const c = validateCatalog(demo);
    expect(c.skills.length).toBeGreaterThanOrEqual(10);
    expect(c.items.length).toBeGreaterThanOrEqual(35);
  });

  it('reports unknown skill references with their path', () => {
    const raw = base();
    raw.items[1]!.skills = ['b', 'zzz'];
    raw.skills[2]!.prerequisites = ['nope'];
    const problems = problemsOf(raw);
    expect(problems).toContain("items[1].skills[1]: unknown skill 'zzz'");
    expect(problems).toContain("skills[2].prerequisites[0]: unknown skill 'nope'");
  });

  it('reports a prerequisite cycle as a closed path', () => {
    const raw = base();
    raw.skills[0]!.prerequisites = ['c'];
    const problems = problemsOf(raw);
    expect(problems).toEqual(['prerequisite cycle: a -> c -> b -> a']);
  });

  it('reports shape errors and duplicates together with their paths', () => {
    const raw = base() as { items: Record<string, unknown>[] } & ReturnType<typeof base>;
    (raw.items[0] as Record<string, unknown>)['kind'] = 'quiz';
    expect(problemsOf(raw).some((p) => p.startsWith('items[0].kind:'))).toBe(true);
    const dup = base();
    dup.items[1]!.id = 'i1';
    expect(problemsOf(dup)).toContain("items[1].id: duplicate item id 'i1'");
  });
});

describe('validateCatalog on text no request could carry (a CLI file, a YAML escape)', () => {
  it('names U+0000 and a lone surrogate by their field; whole pairs pass', () => {
    const c = base();
    c.items[0]!.title = 'a\u0000b';
    c.skills[1]!.name = 'caf\ud800';
    expect(problemsOf(c)).toEqual(['items[0].title: contains U+0000, which no field accepts', 'skills[1].name: contains a lone UTF-16 surrogate (half of a character), which is not text']);
    const ok = base();
    ok.skills[1]!.name = 'B 😀';
    expect(problemsOf(ok)).toEqual([]);
  });
});
