import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../../src/llm/simulator/index.js';
import type { Simulator } from '../../src/llm/simulator/types.js';
import { cli, http, sendBillingEvent, startService, type ServiceProcess } from './service-process.js';

// One learner's life, end to end, with nothing in-process but the simulated "Claude":
// the compiled service as a child process on real sockets, the official SDK inside it,
// the platform's JWTs from the CLI, the payment provider's signed webhooks, and an
// operator reading the dashboard in a real (headless) Chromium.

const CHROMIUM = '/usr/bin/chromium';
const SIM_KEY = 'sk-ant-.e2e-0123456789abcdefSECRETKEY';
const GRADE = {
  criteria: [{ criterionId: 'correctness', levelId: 'correct', evidence: [], justification: 'Names evaporation.' }],
  feedback: { strengths: ['Clear.'], improve: ['Say where the vapour goes.'], nextStep: 'Explain the role of heat.' },
  confidence: 0.9,
};

let n = 0;
const gradeBody = () => ({ question: 'How did you separate the salt from the water?', referenceAnswer: 'The water was evaporated, leaving the salt.', answer: `We left it in the sun until the water evaporated and the salt stayed (${++n}).` });
const nowSec = () => Math.floor(Date.now() / 1000);

describe('the learner journey, end to end', () => {
  let sim: Simulator;
  let svc: ServiceProcess;
  let dir: string;
  let env: Record<string, string>;
  let adminKey: string;
  let learnerJwt: string;
  let browser: Browser | undefined;
  const learner = `learner-${Math.random().toString(36).slice(2, 8)}`;

  const get = (path: string, token: string) => http(svc.url, 'GET', path, { token });
  const post = (path: string, token: string, body: unknown = {}) => http(svc.url, 'POST', path, { token, body });
  const grade = (token: string) => post('/v1/grading/evaluations', token, gradeBody());
  const learningPath = (token: string) => post('/v1/learning-paths', token, {});
  const webhook = (type: 'subscription.created' | 'subscription.canceled', userId: string, created: number) =>
    sendBillingEvent(svc.url, { id: `evt_${type}_${userId}`, type, created, data: { userId, ...(type === 'subscription.created' ? { currentPeriodEnd: nowSec() + 30 * 86_400 } : {}) } });
  /** A new platform user: a JWT only; the first request provisions them as a free learner. */
  const newUser = async (id: string) => cli(['token', '--user', id, '--ttl', '1h'], env);
  const subscribe = async (id: string) => {
    const token = await newUser(id);
    expect((await get('/v1/me', token)).json.tier).toBe('free');
    expect((await webhook('subscription.created', id, nowSec() - 60)).json).toMatchObject({ outcome: 'applied' });
    expect((await get('/v1/me', token)).json.tier).toBe('premium');
    return token;
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}; install it (apt-get install chromium) to run the end-to-end journey.`);
    sim = await startSimulator({ apiKey: SIM_KEY, minCacheableTokens: 0 });
    sim.script.when('<student_answer>', { json: GRADE });
    dir = mkdtempSync(join(tmpdir(), 'tg-e2e-'));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, 'limits:\n  premium: { requestsPerMinute: 120, requestsPerHour: 2000, tokensPerDay: 2000000, concurrent: 8 }\n');
    env = {
      DATABASE_URL: `sqlite:${join(dir, 'tutorgate.db')}`,
      ANTHROPIC_API_KEY: SIM_KEY,
      ANTHROPIC_BASE_URL: sim.url,
      TUTORGATE_POLICY: policy,
      TUTORGATE_DATA_DIR: dir,
    };
    // The operator's account exists before the service starts, as after a deployment.
    await cli(['users', 'create', '--id', 'ops-admin', '--tier', 'premium', '--role', 'admin'], env);
    adminKey = await cli(['keys', 'create', '--user', 'ops-admin'], env);
    expect(adminKey).toMatch(/^tg_/);
    svc = await startService(env);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await svc?.kill();
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('signs up: the first request with a platform JWT provisions a free learner, who may not grade', async () => {
    learnerJwt = await newUser(learner);
    const me = await get('/v1/me', learnerJwt);
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ userId: learner, tier: 'free', entitlements: [], roles: ['learner'], authenticatedWith: 'jwt' });
    const refused = await grade(learnerJwt);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(refused.json).toMatchObject({ code: 'premium_required', status: 403 });
  });

  it('is upgraded by a signed subscription.created webhook (replays and forgeries change nothing)', async () => {
    const forged = await sendBillingEvent(svc.url, { id: 'evt_forged', type: 'subscription.created', created: nowSec(), data: { userId: learner } }, undefined, { tamper: true });
    expect(forged.status).toBe(401);
    expect((await get('/v1/me', learnerJwt)).json.tier).toBe('free');

    const created = nowSec() - 60;
    const first = await webhook('subscription.created', learner, created);
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ received: true, outcome: 'applied' });
    expect((await webhook('subscription.created', learner, created)).json.outcome).toBe('duplicate');
    const me = (await get('/v1/me', learnerJwt)).json;
    expect(me).toMatchObject({ tier: 'premium' });
    expect(me.entitlements).toEqual(expect.arrayContaining(['grading', 'learning_path']));
  });

  it('grades an answer with the LLM, records progress and gets an LLM learning path', { timeout: 30_000 }, async () => {
    const g = await grade(learnerJwt);
    expect(g.status).toBe(200);
    expect(g.json).toMatchObject({ source: 'llm', score: 2, maxScore: 2 });
    expect(g.json.usage.costUsd).toBeGreaterThan(0);
    expect(g.json.usage.inputTokens + g.json.usage.cacheReadTokens + g.json.usage.cacheWriteTokens).toBe(sim.charges.at(-1)!.inputTokens + sim.charges.at(-1)!.cacheReadInputTokens + sim.charges.at(-1)!.cacheCreationInputTokens);

    const catalog = (await get('/v1/catalog', learnerJwt)).json as { items: { id: string }[] };
    const events = catalog.items.slice(0, 3).map((it, i) => ({ eventId: `e2e-${i}`, itemId: it.id, correct: i !== 1 }));
    const recorded = await post('/v1/progress/events', learnerJwt, { events });
    expect(recorded.status).toBe(202);
    expect(recorded.json).toMatchObject({ accepted: 3, duplicates: 0 });
    expect((await post('/v1/progress/events', learnerJwt, { events })).json).toMatchObject({ accepted: 0, duplicates: 3 });
    const mastery = await get('/v1/learners/me/mastery', learnerJwt);
    expect(mastery.json.events).toBe(3);

    const p = await learningPath(learnerJwt);
    expect(p.status).toBe(200);
    expect(p.json.source).toBe('llm');
    expect(p.json.items.length).toBeGreaterThan(0);
    expect(p.json.usage.costUsd).toBeGreaterThan(0);

    const usage = (await get('/v1/usage/me', learnerJwt)).json;
    expect(usage.totals.calls).toBe(2);
    expect(usage.totals.costUsd).toBeCloseTo(g.json.usage.costUsd + p.json.usage.costUsd, 6);
  });

  it("an admin sees that usage in the dashboard (Chromium): the totals shown are the API's", { timeout: 120_000 }, async () => {
    const api = await get('/v1/admin/usage?groupBy=day,feature', adminKey);
    expect(api.status).toBe(200);
    expect(api.json.totals.calls).toBe(sim.charges.length);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      timeout: 90_000,
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
    context.setDefaultTimeout(30_000);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${svc.url}/admin`);
    await page.getByTestId('token-input').fill(adminKey);
    await page.getByTestId('signin-submit').click();
    await page.locator('#dashboard[data-range]').waitFor({ state: 'attached', timeout: 60_000 });

    expect(await page.getByTestId('signed-in-user').textContent()).toBe('ops-admin');
    expect(Number((await page.getByTestId('total-calls').textContent())?.replaceAll(',', ''))).toBe(api.json.totals.calls);
    expect(Number(await page.getByTestId('total-cost').getAttribute('data-value'))).toBe(api.json.totals.costUsd);
    expect(await page.getByTestId('total-cost').getAttribute('title')).toBe('$' + api.json.totals.costUsd.toFixed(6));
    const topUsers = await page.getByTestId('top-user-id').allTextContents();
    expect(topUsers).toContain(learner);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('subscription.canceled: the next grading request is 403 premium_required, the next path comes from rules', async () => {
    const canceled = await webhook('subscription.canceled', learner, nowSec());
    expect(canceled.json).toMatchObject({ outcome: 'applied' });
    const calls = sim.stats().messages;
    const g = await grade(learnerJwt);
    expect(g.status).toBe(403);
    expect(g.json).toMatchObject({ code: 'premium_required' });
    // a new progress event: the path cannot come from an earlier cached answer
    expect((await post('/v1/progress/events', learnerJwt, { eventId: 'e2e-after-cancel', itemId: (await get('/v1/catalog', learnerJwt)).json.items[3].id, correct: true })).status).toBe(202);
    const p = await learningPath(learnerJwt);
    expect(p.status).toBe(200);
    expect(p.json).toMatchObject({ source: 'rules', fallbackReason: 'not_entitled', usage: { costUsd: 0 } });
    expect((await get('/v1/me', learnerJwt)).json.tier).toBe('free');
    expect(sim.stats().messages).toBe(calls);
  });

  it('free users never reach the upstream, and leave nothing in the books', async () => {
    const calls = sim.stats().messages;
    const freeId = `free-${Math.random().toString(36).slice(2, 8)}`;
    const free = await newUser(freeId);
    for (let i = 0; i < 3; i++) {
      expect((await get('/v1/me', free)).status).toBe(200);
      expect((await grade(free)).status).toBe(403);
      const p = await learningPath(free);
      expect(p.status).toBe(200);
      expect(p.json).toMatchObject({ source: 'rules', fallbackReason: 'not_entitled' });
    }
    expect(sim.stats().messages).toBe(calls);
    // No premium code path ran for them: no ledger row (not even a released reservation), no budget counter.
    const db = new Database(join(dir, 'tutorgate.db'), { readonly: true });
    try {
      expect((db.prepare('select count(*) as n from usage_ledger').get() as { n: number }).n).toBeGreaterThan(0); // the premium learners' calls are there
      expect(db.prepare('select count(*) as n from usage_ledger where user_id = ?').get(freeId)).toEqual({ n: 0 });
      expect(db.prepare("select count(*) as n from budget_counters where substr(key, 1, ?) = ?").get(`user:${freeId}:`.length, `user:${freeId}:`)).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });

  it('grading switched off by the kill switch: learning paths keep answering from the LLM', { timeout: 30_000 }, async () => {
    const token = await subscribe(`iso-flag-${Math.random().toString(36).slice(2, 8)}`);
    const off = await http(svc.url, 'PUT', '/v1/admin/flags/grading', { token: adminKey, body: { enabled: false } });
    expect(off.status).toBe(200);
    try {
      const calls = sim.stats().messages;
      const g = await grade(token);
      expect(g.status).toBe(200);
      expect(g.json).toMatchObject({ source: 'rules', fallbackReason: 'flag_off' });
      expect(sim.stats().messages).toBe(calls);
      const p = await learningPath(token);
      expect(p.json.source).toBe('llm');
    } finally {
      await http(svc.url, 'PUT', '/v1/admin/flags/grading', { token: adminKey, body: { enabled: true } });
    }
    expect((await grade(token)).json.source).toBe('llm');
  });

  it("grading's upstream failing: grading falls back to rules, learning paths keep answering from the LLM", { timeout: 60_000 }, async () => {
    const token = await subscribe(`iso-up-${Math.random().toString(36).slice(2, 8)}`);
    // Only grading prompts fail (every attempt, persistently); learning-path prompts are untouched.
    sim.script.clear();
    sim.script.when('<student_answer>', { fault: { kind: 'status', status: 529 } });
    try {
      for (let i = 0; i < 3; i++) {
        const g = await grade(token);
        expect(g.status).toBe(200);
        expect(g.json.source).toBe('rules');
      }
      const p = await learningPath(token);
      expect(p.status).toBe(200);
      expect(p.json, `learning path fell back: ${JSON.stringify(p.json.fallbackReason)}`).toMatchObject({ source: 'llm' });
    } finally {
      sim.script.clear();
      sim.script.when('<student_answer>', { json: GRADE });
    }
  });
});
