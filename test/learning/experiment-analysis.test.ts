import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedUsers } from '../helpers/databases.js';
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
    const exposures = [];
    const recs = [];
    for (let i = 0; i < 2000; i++) {
      const user = `ab-${i}`;
      const variant = i % 2 ? 'llm' : 'control';
      const p = variant === 'llm' ? 0.66 : 0.6;
      exposures.push({ experiment: 'learning_path', user_id: user, variant, first_at: now - 1000, exposures: 1 });
      recs.push({ id: `rec-${i}`, user_id: user, experiment: 'learning_path', variant, source: variant === 'llm' ? 'llm' : 'rules', item_ids: JSON.stringify(['item-a', 'item-b']), at: now - 1000 });
      for (let k = 0; k < 10; k++) rows.push({ user_id: user, event_id: `e${k}`, item_id: k % 2 ? 'item-a' : 'item-b', correct: rand() < p ? 1 : 0, at: now + k, received_at: now });
    }
    // 100 more control learners whom a changed split later served the llm variant: counted in
    // control (intention to treat), and shown as switched.
    for (let i = 0; i < 100; i++) {
      const user = `ab-moved-${i}`;
      exposures.push({ experiment: 'learning_path', user_id: user, variant: 'control', first_at: now - 2000, exposures: 2 });
      recs.push({ id: `rec-moved-${i}-1`, user_id: user, experiment: 'learning_path', variant: 'control', source: 'rules', item_ids: JSON.stringify(['item-c']), at: now - 2000 });
      recs.push({ id: `rec-moved-${i}-2`, user_id: user, experiment: 'learning_path', variant: 'llm', source: 'llm', item_ids: JSON.stringify(['item-a', 'item-b']), at: now - 1000 });
      for (let k = 0; k < 10; k++) rows.push({ user_id: user, event_id: `e${k}`, item_id: k % 2 ? 'item-a' : 'item-b', correct: rand() < 0.6 ? 1 : 0, at: now + k, received_at: now });
    }
    // 50 llm learners recommended to only before the 30-day window, who then answered
    // everything wrong in it: exposed, but no outcome of this window's recommendations.
    for (let i = 0; i < 50; i++) {
      const user = `ab-stale-${i}`;
      exposures.push({ experiment: 'learning_path', user_id: user, variant: 'llm', first_at: now - 40 * 86_400_000, exposures: 1 });
      recs.push({ id: `rec-stale-${i}`, user_id: user, experiment: 'learning_path', variant: 'llm', source: 'llm', item_ids: JSON.stringify(['item-a', 'item-b']), at: now - 40 * 86_400_000 });
      for (let k = 0; k < 10; k++) rows.push({ user_id: user, event_id: `e${k}`, item_id: k % 2 ? 'item-a' : 'item-b', correct: 0, at: now + k, received_at: now });
    }
    // bulk inserts: the repository writes one row at a time, which is slow for a population
    for (let i = 0; i < rows.length; i += 1000) await t.store.db.insertInto('progress_events').values(rows.slice(i, i + 1000)).execute();
    await t.store.db.insertInto('experiment_exposures').values(exposures).execute();
    await t.store.db.insertInto('recommendations').values(recs).execute();
    await seedUsers(t.store.db, 'ab-0');
    await repo.recordExposure('learning_path', 'ab-0', 'control', now); // the repository path counts repeat exposures
    expect((await repo.exposures('learning_path')).length).toBe(2150);
    const admin = await t.premium(undefined, ['admin']);
    const r = await t.app.inject({ method: 'GET', url: '/v1/admin/experiments/learning_path/analysis', headers: bearer(admin) });
    expect(r.statusCode).toBe(200);
    const report = r.json();
    expect(report.learners.llm).toMatchObject({ exposed: 1050, withOutcome: 1000, switched: 0 });
    expect(report.learners.control).toMatchObject({ exposed: 1100, withOutcome: 1100, switched: 100 });
    const llm = report.analysis.variants.find((v: { variant: string }) => v.variant === 'llm');
    expect(llm.difference).toBeGreaterThan(0.04);
    expect(llm.difference).toBeLessThan(0.08);
    expect(llm.ci95[0]).toBeGreaterThan(0); // the interval excludes "no effect"
    expect(llm.ci95[0]).toBeLessThan(0.06);
    expect(llm.ci95[1]).toBeGreaterThan(0.06); // and contains the true effect
    expect(report.learners.control.costPerLearnerUsd).toBe(0);
  });
  // One learner per entry, exposed to the variant a second ago, recommended item-a then, and
  // attempting it now (correct or not), in the order given.
  async function seedExperiment(experiment: string, learners: { variant: string; correct: number }[]) {
    const now = t.clock.now();
    const user = (i: number) => `${experiment}-${i}`;
    await t.store.db.insertInto('progress_events').values(learners.map((l, i) => ({ user_id: user(i), event_id: 'e0', item_id: 'item-a', correct: l.correct, at: now, received_at: now }))).execute();
    await t.store.db.insertInto('experiment_exposures').values(learners.map((l, i) => ({ experiment, user_id: user(i), variant: l.variant, first_at: now - 1000, exposures: 1 }))).execute();
    await t.store.db
      .insertInto('recommendations')
      .values(learners.map((l, i) => ({ id: `rec-${user(i)}`, user_id: user(i), experiment, variant: l.variant, source: 'rules', item_ids: JSON.stringify(['item-a']), at: now - 1000 })))
      .execute();
  }

  it('reports a variant named __proto__ like any other, without touching Object.prototype', async () => {
    // A legal variant key (letters, digits, "_", ".", "-"): used as a plain object's key, the
    // report's counters landed on Object.prototype, for every object of the process.
    await seedExperiment('proto_exp', [0, 1, 2, 3].map((i) => ({ variant: i % 2 ? '__proto__' : 'control', correct: i % 3 ? 1 : 0 })));
    const admin = await t.premium('proto-admin', ['admin']);
    const r = await t.app.inject({ method: 'GET', url: '/v1/admin/experiments/proto_exp/analysis', headers: bearer(admin) });
    expect(r.statusCode).toBe(200);
    expect(({} as Record<string, unknown>).exposed).toBeUndefined();
    const report = r.json();
    expect(Object.keys(report.learners).sort()).toEqual(['__proto__', 'control']);
    expect(report.learners.__proto__).toMatchObject({ exposed: 2, withOutcome: 2 });
    expect(report.analysis.variants[0].variant).toBe('__proto__');
  });

  it('without a "control" variant compares with the first variant by name, whatever order the rows come in', async () => {
    // The control was "the first variant seen" in rows read without an order: on Postgres it
    // could change between two reports of one experiment, and turn the difference's sign.
    await seedExperiment('order_exp', [0, 1, 2, 3, 4, 5].map((i) => ({ variant: i < 3 ? 'zeta' : 'alpha', correct: i % 2 })));
    const admin = await t.premium('order-admin', ['admin']);
    const report = (await t.app.inject({ method: 'GET', url: '/v1/admin/experiments/order_exp/analysis', headers: bearer(admin) })).json();
    expect(report.analysis.control.variant).toBe('alpha');
    expect(report.analysis.variants.map((v: { variant: string }) => v.variant)).toEqual(['zeta']);
  });
});
