import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultRubric, loadRubricsYaml, maxScore, RubricImportError, scoreFromLevels } from './rubric.schema.js';

const demoDir = join(import.meta.dirname, 'demo-rubrics');

describe('rubric model', () => {
  it('default rubric: one correctness criterion worth 2', () => {
    const r = defaultRubric('Why?', 'Because.');
    expect(r.criteria).toHaveLength(1);
    expect(maxScore(r)).toBe(2);
    expect(r.referenceAnswers).toEqual(['Because.']);
    expect(scoreFromLevels(r, [{ criterionId: 'correctness', levelId: 'partially_correct' }])).toBe(1);
  });

  it('maxScore honours weights', () => {
    const [r] = loadRubricsYaml(`
id: w
version: 1
title: t
criteria:
  - { id: a, name: A, description: '', weight: 2, levels: [{ id: hi, points: 3, descriptor: x }, { id: lo, points: 0, descriptor: y }] }
  - { id: b, name: B, description: '', levels: [{ id: hi, points: 1, descriptor: x }] }
referenceAnswers: []
`);
    expect(maxScore(r!)).toBe(7);
  });

  it('loads every demo rubric, each with anchors', () => {
    const files = readdirSync(demoDir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) {
      const rubrics = loadRubricsYaml(readFileSync(join(demoDir, f), 'utf8'));
      expect(rubrics).toHaveLength(1);
      expect(rubrics[0]!.anchors.length).toBeGreaterThan(0);
      expect(maxScore(rubrics[0]!)).toBeGreaterThan(0);
    }
  });

  it('import errors name the failing path', () => {
    const yaml = `
rubrics:
  - id: ok
    version: 1
    title: fine
    criteria: [{ id: c, name: C, description: '', levels: [{ id: l, points: 1, descriptor: d }] }]
    referenceAnswers: [x]
  - id: bad
    version: 1
    title: broken
    criteria: [{ id: c, name: C, description: '', levels: [{ id: l, points: "two", descriptor: d }] }]
    referenceAnswers: [x]
  - id: dangling
    version: 1
    title: anchor names a missing level
    criteria: [{ id: c, name: C, description: '', levels: [{ id: l, points: 1, descriptor: d }] }]
    referenceAnswers: [x]
    anchors: [{ answer: a, levels: { c: nope } }]
`;
    try {
      loadRubricsYaml(yaml);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(RubricImportError);
      const msg = (e as Error).message;
      expect(msg).toContain('rubrics[1].criteria[0].levels[0].points');
      expect(msg).toContain('rubrics[2].anchors[0].levels.c');
    }
  });

  it('reports YAML syntax errors instead of throwing something opaque', () => {
    expect(() => loadRubricsYaml('id: [unclosed')).toThrow(RubricImportError);
  });
});
