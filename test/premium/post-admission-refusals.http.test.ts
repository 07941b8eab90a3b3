import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer } from '../helpers/test-app.js';
import { createSimulatedApp, gradeEveryAnswerValidly } from '../helpers/simulated-app.js';

type App = Awaited<ReturnType<typeof createSimulatedApp>>;

// A request refused after admission (its concurrency slot, its daily tokens) is a 429 like a
// request-window refusal, and like one it costs nothing: the client told to retry in 1 s must
// find its minute's allowance where it was.
describe('refusals after admission', () => {
  let t: App;
  beforeAll(async () => {
    t = await createSimulatedApp({ latencyMs: 300, policy: { limits: { premium: { requestsPerMinute: 5, requestsPerHour: 100, concurrent: 1 } } } });
    gradeEveryAnswerValidly(t.sim);
  });
  afterAll(() => t.close());

  it('gives back the request-window point of a concurrency refusal', async () => {
    const key = await t.premium('one-at-a-time');
    const grade = (i: number) =>
      t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: { question: 'Why does a puddle disappear?', referenceAnswer: 'It evaporates.', answer: `It evaporates, try ${i}.` } });
    const parallel = await Promise.all([1, 2, 3, 4, 5].map(grade));
    const codes = parallel.map((r) => r.statusCode).sort();
    expect(codes).toEqual([200, 429, 429, 429, 429]);
    for (const r of parallel.filter((x) => x.statusCode === 429)) expect(r.json()).toMatchObject({ code: 'rate_limited', detail: expect.stringContaining('"concurrent"') });
    // One answer was served: four of the minute's five requests are left, not none.
    const me = (await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(key) })).json();
    expect(me.limits.grading.requestsPerMinute.remaining).toBe(4);
    for (let i = 6; i < 10; i++) expect((await grade(i)).statusCode).toBe(200);
    expect((await grade(10)).statusCode).toBe(429); // the sixth served request of the minute
  });
});
