import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateCatalog } from './catalog.js';
import { buildPathPrompt, validatePathOutput, type PathCandidate } from './path-prompt.js';

const catalog = validateCatalog(JSON.parse(readFileSync(new URL('./demo-catalog.json', import.meta.url), 'utf8')));
const cand = (id: string): PathCandidate => {
  const it = catalog.items.find((i) => i.id === id)!;
  return { itemId: it.id, title: it.title, kind: it.kind, skills: it.skills };
};
const candidates = ['fractions-intro-lesson', 'fractions-intro-practice-1', 'decimals-lesson', 'factors-lesson'].map(cand);
const mastered = new Set(['whole-numbers']);

describe('buildPathPrompt', () => {
  it('constrains the output to exactly `count` distinct candidate ids', () => {
    const p = buildPathPrompt({ learnerSummary: 'Mastered: whole numbers.', candidates, count: 3, goal: 'decimals' });
    expect(p.templateId).toBe('learning-path');
    const items = (p.outputSchema['properties'] as Record<string, Record<string, unknown>>)['itemIds']!;
    expect(items).toMatchObject({ minItems: 3, maxItems: 3, uniqueItems: true });
    expect((items['items'] as { enum: string[] }).enum).toEqual(candidates.map((c) => c.itemId));
    expect(p.outputSchema['additionalProperties']).toBe(false);
    expect(p.user).toContain('fractions-intro-lesson');
  });

  it('asks for all candidates when fewer than requested', () => {
    const p = buildPathPrompt({ learnerSummary: '', candidates: candidates.slice(0, 2), count: 5 });
    const items = (p.outputSchema['properties'] as Record<string, Record<string, unknown>>)['itemIds']!;
    expect(items['minItems']).toBe(2);
  });
});

describe('validatePathOutput', () => {
  const ctx = { candidates, catalog, mastered, count: 3 };

  it('accepts a prerequisite taught earlier in the same list', () => {
    const r = validatePathOutput({ itemIds: ['fractions-intro-lesson', 'decimals-lesson', 'factors-lesson'], rationale: 'ok' }, ctx);
    expect(r).toEqual({ ok: true, itemIds: ['fractions-intro-lesson', 'decimals-lesson', 'factors-lesson'], rationale: 'ok' });
  });

  it('rejects out-of-order prerequisites, non-candidates, duplicates and wrong counts', () => {
    const bad = validatePathOutput({ itemIds: ['decimals-lesson', 'fractions-intro-lesson', 'decimals-lesson', 'ratios-lesson'], rationale: 'x' }, ctx);
    expect(bad.ok).toBe(false);
    const problems = bad.ok ? [] : bad.problems;
    expect(problems).toEqual([
      'expected 3 item(s), got 4',
      "itemIds[0]: 'decimals-lesson' needs fractions-intro first (not mastered, not taught earlier in the list)",
      "itemIds[2]: duplicate 'decimals-lesson'",
      "itemIds[3]: 'ratios-lesson' is not a candidate",
    ]);
    expect(validatePathOutput('nope', ctx).ok).toBe(false);
    expect(validatePathOutput({ itemIds: ['factors-lesson'], rationale: 'x'.repeat(601) }, ctx).ok).toBe(false);
  });
});
