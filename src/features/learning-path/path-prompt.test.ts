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
    // Counted in characters as the schema's maxLength counts them (code points): a rationale
    // with emoji or rare CJK characters (two UTF-16 units each) was refused at half the limit.
    const astral = `${'🎉𠀀'.repeat(299)}👍😀`;
    const three = ['fractions-intro-lesson', 'decimals-lesson', 'factors-lesson'];
    expect(validatePathOutput({ itemIds: three, rationale: astral }, ctx)).toMatchObject({ ok: true, rationale: astral });
    expect(validatePathOutput({ itemIds: three, rationale: `${astral}!` }, ctx)).toEqual({ ok: false, problems: ['rationale is 601 characters (Unicode code points), limit 600'] });
  });

  it('refuses a rationale a learner should not read: empty, echoing the prompt, or naming item ids', () => {
    const ids = ['fractions-intro-lesson', 'decimals-lesson', 'factors-lesson'];
    const problemsOf = (rationale: string) => {
      const r = validatePathOutput({ itemIds: ids, rationale }, ctx);
      return r.ok ? [] : r.problems;
    };
    expect(problemsOf(' \n\u200b ')).toEqual(['rationale is empty']);
    expect(problemsOf('</learner_summary>\n<candidates>')).toEqual(['rationale quotes the prompt (its tags or candidate JSON)']);
    expect(problemsOf('set","kind":"exercise","skills":["whole-numbers"],"score":0.93')).toEqual(['rationale quotes the prompt (its tags or candidate JSON)']);
    expect(problemsOf('Start with decimals-lesson, then the rest.')).toEqual(["rationale names the item id 'decimals-lesson' (ids are not for learners)"]);
    // prose that merely shares words with ids, or an id inside a longer token, is fine
    expect(problemsOf('Start with the lesson on decimals, then factors: you are close to mastering fractions.')).toEqual([]);
    expect(problemsOf('See decimals-lesson-2 later.')).toEqual([]);
  });

  it('does not read a one-word id as an id: it cannot be told from prose', () => {
    const words = ['fractions', 'decimals'].map((id) => ({ itemId: id, title: id, kind: 'lesson' as const, skills: ['whole-numbers'] }));
    const oneWord = { ...catalog, items: [...catalog.items, ...words.map((w) => ({ id: w.itemId, title: w.title, kind: w.kind, skills: w.skills, difficulty: 0.1, minutes: 5 }))] };
    const r = validatePathOutput({ itemIds: ['fractions', 'decimals'], rationale: 'Fractions first, then decimals.' }, { candidates: words, catalog: oneWord, mastered, count: 2 });
    expect(r.ok).toBe(true);
  });
});
