import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from '../helpers/test-app.js';

// A seeded population: learners in the `llm` arm succeed on recommended items 66 % of
// the time, `control` 60 %. The analysis endpoint must recover that difference.
function prng(seed: number) {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

describe('experiment analysis', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ store: 'postgres' });
  });
  afterAll(() => t.close());

  it('recovers a known effect from a simulated population, with cost per learner as a guardrail', async () => {
    const repo = t.container.learning.repo;
    const rand = prng(7);
    const now = t.clock.now();
    const rows = [];
    for (let i = 0; i < 3000; i++) {
      const user = `ab-${i}`;
      const variant = i % 2 ? 'llm' : 'control';
      const p = variant === 'llm' ? 0.66 : 0.6;
      await repo.recordExposure('learning_path', user, variant, now - 1000);
      await repo.insertRecommendation({ id: `rec-${i}`, userId: user, experiment: 'learning_path', variant, source: variant === 'llm' ? 'llm' : 'rules', itemIds: ['item-a', 'item-b'], at: now - 1000 });
      for (let k = 0; k < 10; k++) rows.push({ user_id: user, event_id: `e${k}`, item_id: k % 2 ? 'item-a' : 'item-b', correct: rand() < p ? 1 : 0, at: now + k, received_at: now });
    }
    await repo.insertEvents(rows);
    const admin = await t.premium(undefined, ['admin']);
    const r = await t.app.inject({ method: 'GET', url: '/v1/admin/experiments/learning_path/analysis', headers: bearer(admin) });
    expect(r.statusCode).toBe(200);
    const report = r.json();
    expect(report.learners.llm).toMatchObject({ exposed: 1500, withOutcome: 1500 });
    const llm = report.analysis.variants.find((v: { variant: string }) => v.variant === 'llm');
    expect(llm.difference).toBeGreaterThan(0.04);
    expect(llm.difference).toBeLessThan(0.08);
    expect(llm.ci95[0]).toBeGreaterThan(0); // the interval excludes "no effect"
    expect(llm.ci95[0]).toBeLessThan(0.06);
    expect(llm.ci95[1]).toBeGreaterThan(0.06); // and contains the true effect
    expect(report.learners.control.costPerLearnerUsd).toBe(0);
  });
});
