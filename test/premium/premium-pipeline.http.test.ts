import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageLedgerRepository } from '../../src/features/usage/usage-ledger.repository.js';
import { STORE_KINDS } from '../helpers/databases.js';
import { bearer } from '../helpers/test-app.js';
import { createSimulatedApp, gradeEveryAnswerValidly } from '../helpers/simulated-app.js';

type App = Awaited<ReturnType<typeof createSimulatedApp>>;
const grading = (answer: string) => ({ question: 'Why does a puddle disappear?', referenceAnswer: 'The water evaporates into the air.', answer });

describe('the premium pipeline: flags, limits, budgets, metering', () => {
  let t: App;
  let admin: string;
  beforeAll(async () => {
    t = await createSimulatedApp({
      policy: {
        limits: { premium: { requestsPerMinute: 1000, requestsPerHour: 10_000, tokensPerDay: 10_000_000, concurrent: 50 }, free: { requestsPerMinute: 3 } },
      },
    });
    admin = await t.premium('flag-admin', ['admin']);
    gradeEveryAnswerValidly(t.sim);
  });
  afterAll(() => t.close());

  const grade = (key: string, answer: string) => t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: grading(answer) });
  const path = (key: string) => t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: bearer(key), payload: {} });

  it('kill switch: no upstream call for grading after it is turned off, learning paths keep working', async () => {
    const key = await t.premium();
    expect((await grade(key, 'It evaporates in the sun.')).json().source).toBe('llm');
    const off = await t.app.inject({ method: 'PUT', url: '/v1/admin/flags/grading', headers: bearer(admin), payload: { enabled: false } });
    expect(off.statusCode).toBe(200);
    const before = t.sim.stats().messages;
    for (let i = 0; i < 5; i++) expect((await grade(key, `It goes into the air ${i}.`)).json()).toMatchObject({ source: 'rules', fallbackReason: 'flag_off' });
    expect(t.sim.stats().messages).toBe(before);
    expect((await path(key)).json().source).toBe('llm');
    expect(t.sim.stats().messages).toBe(before + 1);
    const audit = (await t.app.inject({ method: 'GET', url: '/v1/admin/flags/grading/audit', headers: bearer(admin) })).json();
    expect(audit.entries[0]).toMatchObject({ actor: 'flag-admin', before: { enabled: true }, after: { enabled: false } });
    await t.app.inject({ method: 'PUT', url: '/v1/admin/flags/grading', headers: bearer(admin), payload: { enabled: true } });
  });

  it('a rollout of 0 % answers from rules; the admin view evaluates like the pipeline', async () => {
    await t.app.inject({ method: 'PUT', url: '/v1/admin/flags/grading', headers: bearer(admin), payload: { rollout: 0 } });
    const key = await t.premium('rollout-user');
    expect((await grade(key, 'Sunshine dries it.')).json().fallbackReason).toBe('flag_off');
    const view = (await t.app.inject({ method: 'GET', url: '/v1/admin/flags/grading/evaluate?userId=rollout-user', headers: bearer(admin) })).json();
    expect(view).toMatchObject({ enabled: false, rolloutInForce: 0 });
    await t.app.inject({ method: 'PUT', url: '/v1/admin/flags/grading', headers: bearer(admin), payload: { rollout: 100 } });
    expect((await grade(key, 'Sunshine dries it again.')).json().source).toBe('llm');
  });

  it('a spent monthly budget gives rules answers with a notice, and calls that fell back cost nothing', async () => {
    const key = await t.premium('budget-user');
    await t.app.inject({ method: 'PUT', url: '/v1/admin/users/budget-user/budget', headers: bearer(admin), payload: { monthlyUsd: 0.04 } });
    const sources: string[] = [];
    for (let i = 0; i < 80 && !sources.includes('rules'); i++) {
      const body = (await grade(key, `Heat turns the water to vapour, try ${i}.`)).json();
      sources.push(body.source);
      if (body.source === 'rules') {
        expect(body.fallbackReason).toBe('budget_exhausted');
        expect(body.notices[0]).toContain('monthly user budget'); // the override that ran out, not the daily ones
        expect(body.usage.costUsd).toBe(0);
      }
    }
    expect(sources).toContain('rules');
    const rows = await new UsageLedgerRepository(t.store.db).settledRows({ userId: 'budget-user' });
    const spent = rows.reduce((s, r) => s + Number(r.cost_micros), 0);
    expect(spent).toBeLessThanOrEqual(40_000);
    expect(rows.filter((r) => Number(r.cost_micros) > 0)).toHaveLength(sources.filter((s) => s === 'llm').length);
    // the override raises this user's budget at once
    await t.app.inject({ method: 'PUT', url: '/v1/admin/users/budget-user/budget', headers: bearer(admin), payload: { monthlyUsd: 10 } });
    expect((await grade(key, 'Evaporation, once more.')).json().source).toBe('llm');
  });

  it('rate limits answer 429 problem+json with Retry-After and the draft headers, per user across keys', async () => {
    const free = await t.free('limited');
    const second = (await t.container.identity.service.createApiKey('limited')).key;
    const codes: number[] = [];
    for (const k of [free, second, free, second]) {
      const r = await path(k);
      codes.push(r.statusCode);
      expect(r.headers['ratelimit-policy']).toMatch(/"minute";q=3;w=60/);
      if (r.statusCode === 429) {
        expect(r.headers['retry-after']).toBeDefined();
        expect(r.json()).toMatchObject({ code: 'rate_limited', status: 429 });
      }
    }
    expect(codes).toEqual([200, 200, 200, 429]);
  });

  it('streamed learning-path calls are metered from the cumulative message_delta usage, to the token', async () => {
    const key = await t.premium('stream-user');
    const body = (await path(key)).json();
    expect(body.source).toBe('llm');
    const charge = t.sim.charges.at(-1)!;
    expect(body.usage.outputTokens).toBe(charge.outputTokens);
    expect(body.usage.inputTokens).toBe(charge.inputTokens);
    const row = (await new UsageLedgerRepository(t.store.db).settledRows({ userId: 'stream-user' })).find((r) => r.message_id === charge.id)!;
    expect(row.output_tokens).toBe(charge.outputTokens);
  });

  it("prompt caching follows the model's minimum: a short prefix on Haiku is never cached, a rubric past 4,096 tokens is written once and then read", async () => {
    const key = await t.premium('cache-reader');
    // The default rubric's prefix (under 1,000 tokens) is below Claude Haiku 4.5's 4,096-token
    // minimum: the API neither writes nor reads it, so no write premium is paid either.
    let first = t.sim.charges.length;
    await grade(key, 'The sun heats the puddle.');
    await grade(key, 'The water turns into vapour.');
    expect(t.sim.charges.length - first).toBe(2);
    for (const c of t.sim.charges.slice(first)) expect(c.cacheCreationInputTokens + c.cacheReadInputTokens).toBe(0);

    // A class rubric with long level descriptors (about 5,000 tokens) passes the minimum.
    const instructor = await t.premium('cache-instructor', ['instructor']);
    const long = (what: string) => Array.from({ length: 60 }, (_, i) => `${what} point ${i}: the answer names evaporation, says where the vapour goes and why heat matters.`).join(' ');
    const published = await t.app.inject({
      method: 'POST',
      url: '/v1/grading/rubrics',
      headers: bearer(instructor),
      payload: {
        id: 'long-evaporation', version: 1, title: 'Evaporation, in depth', question: 'Why does a puddle disappear?',
        criteria: [{ id: 'correctness', name: 'Correct', description: long('Criterion'), levels: [{ id: 'correct', points: 2, descriptor: long('Full marks') }, { id: 'incorrect', points: 0, descriptor: long('No marks') }] }],
        referenceAnswers: ['The water evaporates into the air.'],
      },
    });
    expect(published.statusCode).toBe(201);
    first = t.sim.charges.length;
    for (const answer of ['The sun heats the puddle.', 'The water turns into vapour.']) {
      const r = await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: { rubricId: 'long-evaporation', question: 'Why does a puddle disappear?', answer } });
      expect(r.json().source).toBe('llm');
    }
    const [a, b] = t.sim.charges.slice(first);
    expect(t.sim.charges.length - first).toBe(2);
    expect(a!.cacheCreationInputTokens).toBeGreaterThanOrEqual(4096);
    expect(b!.cacheReadInputTokens).toBeGreaterThanOrEqual(4096);
    expect(b!.inputTokens).toBeLessThan(b!.cacheReadInputTokens); // most of the prompt is the cached prefix
    const rows = await new UsageLedgerRepository(t.store.db).settledRows({ userId: 'cache-reader' });
    expect(rows.reduce((s, r) => s + r.cache_read_tokens, 0)).toBe(a!.cacheReadInputTokens + b!.cacheReadInputTokens);
    expect(rows.reduce((s, r) => s + r.cache_write_5m_tokens + r.cache_write_1h_tokens, 0)).toBe(a!.cacheCreationInputTokens + b!.cacheCreationInputTokens);
  });

  it('ledger totals equal the simulator record, token for token, and cost equals tokens × price', async () => {
    const rows = await new UsageLedgerRepository(t.store.db).settledRows();
    const byMessage = new Map(rows.filter((r) => r.message_id).map((r) => [r.message_id!, r]));
    for (const c of t.sim.charges) {
      const r = byMessage.get(c.id);
      expect(r, `charge ${c.id} has a ledger row`).toBeDefined();
      expect(r!.input_tokens).toBe(c.inputTokens);
      expect(r!.output_tokens).toBe(c.outputTokens);
      expect(r!.cache_read_tokens).toBe(c.cacheReadInputTokens);
      expect(r!.cache_write_5m_tokens + r!.cache_write_1h_tokens).toBe(c.cacheCreationInputTokens);
      const expected = t.container.prices.cost(r!.model, { inputTokens: r!.input_tokens, outputTokens: r!.output_tokens, cacheWrite5mTokens: r!.cache_write_5m_tokens, cacheWrite1hTokens: r!.cache_write_1h_tokens, cacheReadTokens: r!.cache_read_tokens }, Number(r!.created_at)).costMicros;
      expect(Number(r!.cost_micros)).toBe(expected);
    }
    expect(byMessage.size).toBe(t.sim.charges.length);
  });
});

// A workspace whose default_inference_geo is "us": the API reports usage.inference_geo "us" on
// the models that have it (Sonnet 4.6 here, the learning path's), which bills at the price's
// usOnlyMultiplier; Haiku 4.5 (grading) reports none and bills at the list price.
describe.each(STORE_KINDS)('US-only inference on %s', (kind) => {
  let t: App;
  beforeAll(async () => {
    t = await createSimulatedApp({ store: kind, inferenceGeo: 'us' });
    gradeEveryAnswerValidly(t.sim);
  });
  afterAll(() => t.close());

  it('is billed at the US-only multiplier where the answer says it ran in the US, at list price elsewhere', async () => {
    const key = await t.premium('us-geo');
    const path = await t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: bearer(key), payload: {} });
    expect(path.json().source).toBe('llm');
    const graded = await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: grading('It evaporates in the sun.') });
    expect(graded.json().source).toBe('llm');
    await t.container.deferred.drain();
    const rows = await new UsageLedgerRepository(t.store.db).settledRows({ userId: 'us-geo' });
    const byModel = new Map(rows.map((r) => [r.model, r]));
    const cost = (model: string, geo?: string) => {
      const r = byModel.get(model)!;
      const u = { inputTokens: r.input_tokens, outputTokens: r.output_tokens, cacheWrite5mTokens: r.cache_write_5m_tokens, cacheWrite1hTokens: r.cache_write_1h_tokens, cacheReadTokens: r.cache_read_tokens, ...(geo ? { inferenceGeo: geo } : {}) };
      return t.container.prices.cost(model, u, Number(r.created_at)).costMicros;
    };
    expect([...byModel.keys()].sort()).toEqual(['claude-haiku-4-5', 'claude-sonnet-4-6']);
    expect(Number(byModel.get('claude-sonnet-4-6')!.cost_micros)).toBe(cost('claude-sonnet-4-6', 'us'));
    expect(cost('claude-sonnet-4-6', 'us')).toBeGreaterThan(cost('claude-sonnet-4-6'));
    expect(Number(byModel.get('claude-haiku-4-5')!.cost_micros)).toBe(cost('claude-haiku-4-5'));
  });
});

describe('a settlement that fails after its answer (ADR 0010)', () => {
  let t: App;
  beforeAll(async () => {
    t = await createSimulatedApp();
    gradeEveryAnswerValidly(t.sim);
  });
  afterAll(() => t.close());

  it('the learner keeps the answer; the failure is counted; the pending row holds the budget until reconciliation charges it', async () => {
    const key = await t.premium('unsettled');
    const metering = t.container.metering;
    const settlePriced = metering.settlePriced.bind(metering);
    metering.settlePriced = async () => {
      throw new Error('database refused the write');
    };
    const res = await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: grading('It evaporates in the sun.') });
    metering.settlePriced = settlePriced;
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ source: 'llm' });
    expect(res.json().usage.costUsd).toBeGreaterThan(0);
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/tutorgate_deferred_work_failures_total\{work="settle"\} 1/);
    const pending = await t.store.db.selectFrom('usage_ledger').selectAll().where('user_id', '=', 'unsettled').execute();
    expect(pending.map((r) => r.status)).toEqual(['pending']);
    const reserved = Number(pending[0]!.reserved_micros);
    const holds = await t.store.db.selectFrom('budget_counters').select(['key', 'reserved_micros', 'spent_micros']).where('key', 'like', '%unsettled%').execute();
    expect(holds.map((h) => Number(h.reserved_micros))).toEqual([reserved]);

    t.clock.advance(60_000);
    expect(await metering.reconcile(30_000)).toBe(1);
    const [row] = await t.store.db.selectFrom('usage_ledger').selectAll().where('user_id', '=', 'unsettled').execute();
    expect(row).toMatchObject({ status: 'settled', outcome: 'unknown_after_crash' });
    expect(Number(row!.cost_micros)).toBe(reserved); // the worst case: never less than the call cost
    const [after] = await t.store.db.selectFrom('budget_counters').select(['reserved_micros', 'spent_micros']).where('key', 'like', '%unsettled%').execute();
    expect(Number(after!.reserved_micros)).toBe(0);
    expect(Number(after!.spent_micros)).toBe(reserved);
  });
});
