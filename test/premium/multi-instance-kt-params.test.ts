import { describe, expect, it } from 'vitest';
import { defaultKtParams, KT_PARAMS_CHECK_MS } from '../../src/features/learning-path/learner-model.js';
import { bearer, createTestApp, type TestApp } from '../helpers/test-app.js';
import { twoInstancesOnPostgres } from '../helpers/two-instances.js';

// `tutorgate kt-fit` (a CLI process) stores new knowledge-tracing params while two instances
// on one Postgres are serving.
describe('knowledge-tracing params with two instances on one Postgres', () => {
  const two = twoInstancesOnPostgres();

  const mastery = async (t: TestApp, key: string) => (await t.app.inject({ method: 'GET', url: '/v1/learners/me/mastery', headers: bearer(key) })).json();

  it('both instances take up params fitted while they run, not only one started afterwards', async () => {
    const key = await two.a.premium('kt-learner');
    const events = [{ eventId: 'k1', itemId: 'whole-numbers-lesson', correct: true }, { eventId: 'k2', itemId: 'whole-numbers-lesson', correct: true }];
    expect((await two.a.app.inject({ method: 'POST', url: '/v1/progress/events', headers: bearer(key), payload: { events } })).statusCode).toBeLessThan(300);
    const before = await mastery(two.a, key);
    expect(await mastery(two.b, key)).toEqual(before); // both on the shipped prior, both loaded

    // What kt-fit stores: here, the prior with every weight doubled.
    const fitted = defaultKtParams();
    const doubled = { ...fitted, weights: fitted.weights.map((w) => w * 2), l2: fitted.l2 / 2 };
    await two.a.container.learning.repo.putKtParams(JSON.stringify(doubled), two.a.clock.now());
    for (const t of [two.a, two.b]) {
      t.clock.advance(KT_PARAMS_CHECK_MS);
      expect((await t.container.learning.learners.kt()).params).toEqual(doubled);
    }
    // A third instance started now answers as the two running ones do.
    const c = await createTestApp({ store: two.store });
    try {
      expect((await c.container.learning.learners.kt()).params).toEqual(doubled);
      expect(await mastery(two.b, key)).toEqual(await mastery(c, key));
    } finally {
      await c.close();
    }
  });
});
