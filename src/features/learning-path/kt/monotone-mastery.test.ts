import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { readAttemptsTsv } from './attempt.js';
import { fitKnowledgeTracer } from './fit-knowledge-tracer.js';
import type { KtParams } from './kt-params.js';
import { firstLearners, practisedCatalog } from './kt-sample.js';
import { KnowledgeTracer, emptyLearnerState } from './knowledge-tracer.js';
import { defaultKtParams } from '../learner-model.js';

const TRAIN = '/work/shared/data/kt/assistments09/train.tsv';

interface CatalogItem {
  item: string;
  skills: readonly string[];
}

/**
 * The guarantee a learner sees: a correct answer never lowers the mastery of a skill, a
 * wrong one never raises it (the answered skill's or any other's), and the same holds for
 * the prediction on every item. Float rounding may move z by ~1e-16 where the maths says
 * "unchanged", hence the tolerance, far below any real effect (the defect was ~1e-2).
 */
function checkMonotone(kt: KnowledgeTracer, catalog: readonly CatalogItem[], runs: number): void {
  const skills = [...new Set(catalog.flatMap((c) => c.skills))];
  const answer = fc.record({ at: fc.nat(catalog.length - 1), correct: fc.boolean() });
  fc.assert(
    fc.property(fc.array(answer, { maxLength: 120 }), answer, (history, last) => {
      const s = emptyLearnerState();
      for (const a of history) kt.update(s, catalog[a.at]!.item, catalog[a.at]!.skills, a.correct);
      const { item, skills: itemSkills } = catalog[last.at]!;
      const before = skills.map((k) => kt.mastery(s, k));
      const pBefore = catalog.map((c) => kt.predict(s, c.item, c.skills));
      kt.update(s, item, itemSkills, last.correct);
      const sign = last.correct ? 1 : -1;
      skills.forEach((k, i) => expect(sign * (kt.mastery(s, k) - before[i]!), `mastery of ${k}`).toBeGreaterThanOrEqual(-1e-12));
      catalog.forEach((c, i) => {
        expect(sign * (kt.predict(s, c.item, c.skills) - pBefore[i]!), `prediction on ${c.item}`).toBeGreaterThanOrEqual(-1e-12);
      });
    }),
    { numRuns: runs, seed: 20240615 },
  );
}

describe('KT mastery moves with the answer', () => {
  it('on the shipped default params', () => {
    // Items unknown to the prior, as in a real catalog; one item exercises two skills.
    const catalog: CatalogItem[] = [
      ...['a', 'b', 'c'].flatMap((s) => [1, 2, 3].map((i) => ({ item: `${s}${i}`, skills: [s] }))),
      { item: 'ab', skills: ['a', 'b'] },
    ];
    checkMonotone(new KnowledgeTracer(defaultKtParams()), catalog, 2000);
  });

  describe('on params the fitter produces from a small sample', () => {
    let params: KtParams;
    let catalog: CatalogItem[];
    beforeAll(async () => {
      const all = await readAttemptsTsv(TRAIN);
      const rows = firstLearners(all, 150);
      params = fitKnowledgeTracer(rows, { l2: 1 });
      // Known items of the most practised skills (their base rates differ, so the residual
      // features move by different amounts), plus an item and a skill the fit never saw.
      catalog = practisedCatalog(rows, 3, 5);
      catalog.push({ item: 'new-item', skills: ['new-skill'] });
    });

    it('holds for every history', () => {
      checkMonotone(new KnowledgeTracer(params), catalog, 1500);
    });
  });
});
