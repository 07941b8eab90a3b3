import { beforeAll, describe, expect, it } from 'vitest';
import { readAttemptsTsv, type Attempt } from './attempt.js';
import { fitKnowledgeTracer } from './fit-knowledge-tracer.js';
import type { KtParams } from './kt-params.js';
import { KnowledgeTracer, emptyLearnerState } from './knowledge-tracer.js';
import { learnerStateFromJson, learnerStateToJson } from './learner-state.js';

const TRAIN = '/work/shared/data/kt/assistments09/train.tsv';

let params: KtParams;
let rows: Attempt[];

beforeAll(async () => {
  const all = await readAttemptsTsv(TRAIN);
  const users = new Set<string>();
  rows = all.filter((r) => {
    if (users.size < 200) users.add(r.userId);
    return users.has(r.userId);
  });
  params = fitKnowledgeTracer(rows, { l2: 3 });
});

/** The most practised skill and a few of its items, so the test exercises learned weights. */
function commonSkill(): { skill: string; items: string[] } {
  const bySkill = new Map<string, Set<string>>();
  for (const r of rows) {
    const s = r.skillIds[0]!;
    if (!bySkill.has(s)) bySkill.set(s, new Set());
    bySkill.get(s)!.add(r.itemId);
  }
  const [skill, items] = [...bySkill].sort((a, b) => b[1].size - a[1].size)[0]!;
  return { skill, items: [...items].slice(0, 12) };
}

describe('KnowledgeTracer', () => {
  it('raises the prediction and mastery after a run of correct answers, lowers them after errors', () => {
    const kt = new KnowledgeTracer(params);
    const { skill, items } = commonSkill();
    const probe = items[11]!;
    const good = emptyLearnerState();
    const bad = emptyLearnerState();
    const p0 = kt.predict(good, probe, [skill]);
    const m0 = kt.mastery(good, skill);
    for (const item of items.slice(0, 6)) {
      kt.update(good, item, [skill], true);
      kt.update(bad, item, [skill], false);
    }
    expect(kt.predict(good, probe, [skill])).toBeGreaterThan(p0);
    expect(kt.mastery(good, skill)).toBeGreaterThan(m0);
    expect(kt.predict(bad, probe, [skill])).toBeLessThan(p0);
    expect(kt.mastery(bad, skill)).toBeLessThan(kt.mastery(good, skill));
  });

  it('predicts in (0,1) for unseen items and skills, falling back to shared parameters', () => {
    const kt = new KnowledgeTracer(params);
    const s = emptyLearnerState();
    const p = kt.predict(s, 'never-seen-item', ['never-seen-skill']);
    expect(p).toBeGreaterThan(0);
    expect(p).toBeLessThan(1);
    kt.update(s, 'never-seen-item', ['never-seen-skill'], true);
    kt.update(s, 'another-new-item', ['never-seen-skill'], true);
    expect(kt.mastery(s, 'never-seen-skill')).toBeGreaterThan(kt.mastery(emptyLearnerState(), 'never-seen-skill'));
  });

  it('survives JSON round trips of params and learner state with identical predictions', () => {
    const kt = new KnowledgeTracer(params);
    const kt2 = new KnowledgeTracer(JSON.parse(JSON.stringify(params)) as KtParams);
    const { skill, items } = commonSkill();
    const s = emptyLearnerState();
    items.slice(0, 5).forEach((it, i) => kt.update(s, it, [skill], i % 2 === 0));
    const s2 = learnerStateFromJson(JSON.parse(JSON.stringify(learnerStateToJson(s))));
    expect(kt2.predict(s2, items[6]!, [skill])).toBe(kt.predict(s, items[6]!, [skill]));
  });

  // Its speed (budget 10 µs per update) is measured by bench/learning-path.bench.ts.
  it('stays a probability through a long history of answers, and follows the answers', () => {
    const kt = new KnowledgeTracer(params);
    const { skill, items } = commonSkill();
    const s = emptyLearnerState();
    const skills = [skill];
    const seen: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const item = items[i % items.length]!;
      const p = kt.predict(s, item, skills);
      seen.push(p);
      kt.update(s, item, skills, i < 10_000 ? (i & 3) !== 0 : (i & 3) === 0);
    }
    expect(seen.every((p) => p > 0 && p < 1)).toBe(true);
    // Mostly right for the first half, mostly wrong for the second: predictions fall.
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean(seen.slice(19_000))).toBeLessThan(mean(seen.slice(9_000, 10_000)));
  });
});
