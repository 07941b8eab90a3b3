import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer } from '../helpers/test-app.js';
import { createSimulatedApp } from '../helpers/simulated-app.js';

type App = Awaited<ReturnType<typeof createSimulatedApp>>;
const grading = { question: 'Why does a puddle disappear?', referenceAnswer: 'The water evaporates into the air.', answer: 'It evaporates.' };

describe('usage ranges', () => {
  let t: App;
  let admin: string;
  let learner: string;
  beforeAll(async () => {
    t = await createSimulatedApp();
    admin = await t.premium('range-admin', ['admin']);
    learner = await t.premium('range-learner');
  });
  afterAll(() => t.close());

  const get = (url: string, key: string) => t.app.inject({ method: 'GET', url, headers: bearer(key) });

  it('refuses a range that ends before it starts, naming the end that is wrong', async () => {
    for (const [url, key] of [
      ['/v1/usage/me?from=2026-11-27&to=2026-10-01', learner],
      ['/v1/admin/usage?from=2026-11-27&to=2026-10-01', admin],
    ] as const) {
      const r = await get(url, key);
      expect(r.statusCode, url).toBe(422);
      expect(r.json()).toMatchObject({ code: 'validation_failed', errors: [{ path: 'querystring.from' }] });
      expect(r.json().detail).toContain('starts (2026-11-27) after it ends (2026-10-01)');
    }
    // Only `from`, after today (the test clock's 2026-11-27): `to` defaulted to today.
    expect((await get('/v1/usage/me?from=2026-12-05', learner)).json()).toMatchObject({ status: 422, errors: [{ path: 'querystring.from' }] });
    // Only `to`: `from` defaults to 29 days before it, never after it.
    expect((await get('/v1/usage/me?to=2020-01-31', learner)).json()).toMatchObject({ from: '2020-01-02', to: '2020-01-31' });
  });

  it('answers a range of up to 366 days and refuses a longer one instead of cutting it', async () => {
    expect((await get('/v1/admin/usage?from=2024-01-01&to=2024-12-31', admin)).statusCode).toBe(200); // 366 days, a leap year
    const r = await get('/v1/admin/usage?from=2023-01-01&to=2026-11-27', admin);
    expect(r.statusCode).toBe(422);
    expect(r.json().detail).toContain('spans 1427 days; ask for at most 366');
    expect((await get('/v1/usage/me?from=1970-01-01&to=2026-11-27', learner)).statusCode).toBe(422);
  });
});

describe('budgets refused with 429 (onExhausted: reject)', () => {
  let t: App;
  let admin: string;
  beforeAll(async () => {
    t = await createSimulatedApp({ policy: { budgets: { globalDailyUsd: 0, onExhausted: 'reject' } } });
    admin = await t.premium('reject-admin', ['admin']);
  });
  afterAll(() => t.close());

  it('refuses the request with 429 budget_exhausted, makes no call, and counts the refusal', async () => {
    const key = await t.premium('reject-learner');
    const before = t.sim.stats().messages;
    for (let i = 0; i < 3; i++) {
      const r = await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: grading });
      expect(r.statusCode).toBe(429);
      expect(r.headers['content-type']).toContain('application/problem+json');
      // The global budget is daily: a retry can pass at the next UTC midnight, not before, not a month later.
      const now = new Date(t.clock.now());
      const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
      expect(Number(r.headers['retry-after'])).toBe(Math.ceil((midnight - now.getTime()) / 1000));
      expect(r.json()).toMatchObject({ code: 'budget_exhausted', status: 429 });
      expect(r.json().detail).toContain('daily global');
    }
    expect(t.sim.stats().messages).toBe(before);
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/tutorgate_premium_requests_total\{feature="grading",source="refused",reason="budget_exhausted"\} 3/);
    expect(metrics).toMatch(/tutorgate_budget_refusals_total\{budget="global"\} 3/); // what TutorgateBudgetExhausted watches
    const ops = (await t.app.inject({ method: 'GET', url: '/v1/admin/ops', headers: bearer(admin) })).json();
    expect(ops.figures.premium.bySource).toMatchObject({ refused: 3, llm: 0 });
  });

  it('shows a zero-dollar budget as used up, as the budget gauge does', async () => {
    const usage = (await t.app.inject({ method: 'GET', url: '/v1/admin/usage', headers: bearer(admin) })).json();
    expect(usage.budgets).toContainEqual(expect.objectContaining({ budget: 'global:2026-11-27', capUsd: 0, used: 1 }));
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('tutorgate_budget_used_ratio{budget="global"} 1');
  });
});

describe('a budget smaller than a call', () => {
  let t: App;
  let admin: string;
  beforeAll(async () => {
    // $0.001 a day for grading: less than one call's worst case, so the first call is refused.
    t = await createSimulatedApp({ policy: { budgets: { perFeatureDailyUsd: { grading: 0.001 } } } });
    admin = await t.premium('small-admin', ['admin']);
  });
  afterAll(() => t.close());

  it('is reported exhausted while its spend is still 0 %: every answer comes from rules', async () => {
    const key = await t.premium('small-learner');
    const r = await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: grading });
    expect(r.json()).toMatchObject({ source: 'rules', fallbackReason: 'budget_exhausted' });
    const usage = (await t.app.inject({ method: 'GET', url: '/v1/admin/usage', headers: bearer(admin) })).json();
    const exhausted = (usage.budgets as { budget: string; used: number; exhausted: boolean }[]).map((b) => [b.budget.replace(/:\d{4}-\d{2}-\d{2}$/, ''), b.used, b.exhausted]);
    expect(exhausted).toEqual([
      ['global', 0, false],
      ['feature:grading', 0, true],
      ['feature:learning_path', 0, false],
    ]);
  });
});
