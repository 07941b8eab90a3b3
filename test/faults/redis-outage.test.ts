import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRedis } from '../../src/main.js';
import { openStore } from '../../src/platform/db/database.js';
import { parsePolicy } from '../../src/platform/policy.js';
import { openTestStore, REDIS_TEST_URL, type TestStore } from '../helpers/databases.js';
import { createSimulatedApp } from '../helpers/simulated-app.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { expectNoInternals, expectStoreUnavailable, http } from '../e2e/service-process.js';
import { expectLedgerMatchesCharges, expectLimitsMatchLedger } from './ledger-invariants.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

// Redis and Postgres taken away from ONE app, through a TCP proxy of our own: the shared
// servers other test files use are never stopped. What src/features/limits/README.md
// promises for a dead Redis: request windows fail open per instance, premium LLM calls
// fail closed to the rules answer (no limiter, no upstream spend), nothing waits on Redis.

const GRADE = {
  criteria: [{ criterionId: 'correctness', levelId: 'correct', evidence: [], justification: 'Names evaporation.' }],
  feedback: { strengths: ['Clear.'], improve: ['Say where the vapour goes.'], nextStep: 'Explain the role of heat.' },
  confidence: 0.9,
};
const LIVENESS_MS = 5_000; // "no request hangs beyond a few seconds"
const nonce = Math.random().toString(36).slice(2, 8);
let n = 0;
const gradeBody = () => ({ question: 'Why does a puddle disappear?', referenceAnswer: 'The water evaporates into the air.', answer: `The sun warms it and the water evaporates, run ${nonce}-${++n}.` });

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Redis outage (cut and stalled) behind a proxy', () => {
  let proxy: TcpProxy;
  let redis: Redis;
  let t: Awaited<ReturnType<typeof createSimulatedApp>>;
  let base: string;
  let premium: string;
  let free: string;

  beforeAll(async () => {
    const target = new URL(REDIS_TEST_URL);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
    redis = openRedis(`redis://127.0.0.1:${proxy.port}`);
    await until(() => redis.status === 'ready', 'redis ready');
    t = await createSimulatedApp({
      redis,
      policy: { limits: { premium: { requestsPerMinute: 1000, requestsPerHour: 10_000, tokensPerDay: 10_000_000, concurrent: 20 } } },
    });
    t.sim.script.when('<student_answer>', { json: GRADE });
    premium = await t.premium();
    free = await t.free();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    proxy?.restore();
    await t?.close();
    redis?.disconnect();
    await proxy?.close();
  }, 30_000);

  const call = (method: string, path: string, token?: string, body?: unknown) => http(base, method, path, { ...(token ? { token } : {}), ...(body !== undefined ? { body } : {}), timeoutMs: LIVENESS_MS });
  const grade = () => call('POST', '/v1/grading/evaluations', premium, gradeBody());
  const learningPath = async () => call('POST', '/v1/learning-paths', await t.premium(), {});

  const expectFailClosed = async () => {
    const calls = t.sim.stats().messages;
    const g = await grade();
    expect(g.status).toBe(200);
    expect(g.json).toMatchObject({ source: 'rules', fallbackReason: 'limiter_unavailable', usage: { costUsd: 0 } });
    const p = await learningPath();
    expect(p.status).toBe(200);
    expect(p.json).toMatchObject({ source: 'rules', fallbackReason: 'limiter_unavailable' });
    // no limiter, no upstream spend
    expect(t.sim.stats().messages).toBe(calls);

    // cheap routes keep answering; /v1/me omits the limits it cannot read
    const me = await call('GET', '/v1/me', premium);
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ tier: 'premium', limits: { grading: { unavailable: true } } });
    // the monthly budget lives in SQL, not Redis: still read, with the policy's cap
    const cap = parsePolicy(undefined).budgets.perUserMonthlyUsd!.premium!;
    expect(me.json.budget).toMatchObject({ period: expect.stringMatching(/^\d{4}-\d{2}$/), capUsd: cap, spentUsd: expect.any(Number) });
    expect(me.json.budget.remainingUsd).toBeLessThanOrEqual(cap);
    // request windows fail open onto the in-process limiter: free users still get their rules answer
    const fp = await call('POST', '/v1/learning-paths', free, {});
    expect(fp.status).toBe(200);
    expect(fp.json.source).toBe('rules');
    expect((await call('GET', '/healthz')).status).toBe(200);

    const ready = await call('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.json).toMatchObject({ status: 'unready', checks: { redis: { ok: false }, store: { ok: true } } });
  };

  // Restores the proxy, resetting stalled connections (a Redis that was restarted), and waits
  // for the client's next 'ready': its current status alone would be stale.
  const restoreAndReconnect = async () => {
    const ready = new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    proxy.restore({ reset: true });
    await Promise.race([ready, new Promise((_, reject) => setTimeout(() => reject(new Error('redis did not reconnect within 15 s')), 15_000))]);
  };

  const expectRecovered = async () => {
    const g = await grade();
    expect(g.status).toBe(200);
    expect(g.json, `after recovery: ${g.json.fallbackReason}`).toMatchObject({ source: 'llm' });
    expect((await learningPath()).json.source).toBe('llm');
    expect((await call('GET', '/readyz')).status).toBe(200);
    const me = (await call('GET', '/v1/me', premium)).json;
    expect(me.limits.grading.unavailable).toBeUndefined();
    // the books and the Redis counters agree after the outage: usage neither lost nor counted
    // twice, no reservation or slot left held by a call the outage cut short
    await expectLedgerMatchesCharges(t.store.db, t.sim.charges);
    expect(me.limits.grading.tokensPerDay.limit - me.limits.grading.tokensPerDay.remaining).toBeGreaterThan(0);
    await expectLimitsMatchLedger(t.store.db, me);
  };

  it('with Redis up, premium calls reach the LLM', { timeout: 20_000 }, async () => {
    expect((await grade()).json.source).toBe('llm');
    expect((await learningPath()).json.source).toBe('llm');
    expect((await call('GET', '/readyz')).json.checks.redis.ok).toBe(true);
  });

  it('Redis cut: premium LLM calls fail closed to rules, cheap routes answer, nothing hangs, no 5xx', { timeout: 40_000 }, async () => {
    proxy.cut();
    await until(() => redis.status !== 'ready', 'the client to notice');
    await expectFailClosed();
  });

  it('Redis back: LLM answers come back', { timeout: 30_000 }, async () => {
    await restoreAndReconnect();
    await expectRecovered();
  });

  it('Redis stalled (connection open, nothing answers): same, bounded by the command deadlines', { timeout: 40_000 }, async () => {
    proxy.stall();
    await expectFailClosed();
    await restoreAndReconnect();
    await expectRecovered();
  });
});

describe('Postgres unreachable behind a proxy', () => {
  let ts: TestStore;
  let proxy: TcpProxy;
  let t: TestApp;
  let base: string;
  let key: string;

  beforeAll(async () => {
    ts = await openTestStore('postgres'); // created and migrated over a direct connection
    proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(ts.url).port || 5432) });
    const url = new URL(ts.url);
    url.port = String(proxy.port);
    const store = openStore(url.toString(), { poolSize: 5 });
    t = await createTestApp({ store: { store, url: url.toString(), cleanup: () => store.close() } });
    key = await t.premium('pg-outage-user');
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    proxy?.restore();
    await t?.close();
    await t?.store.close().catch(() => {});
    await proxy?.close();
    await ts?.cleanup();
  }, 30_000);

  const call = (method: string, path: string, opts: { token?: string; body?: unknown; timeoutMs?: number } = {}) => http(base, method, path, { timeoutMs: LIVENESS_MS, ...opts });

  it('while the database is cut: problem+json, never a stack trace; /readyz unready; /healthz alive', { timeout: 40_000 }, async () => {
    expect((await call('GET', '/v1/me', { token: key })).status).toBe(200);
    proxy.cut();
    expectStoreUnavailable(await call('GET', '/v1/me', { token: key }));
    expectStoreUnavailable(await call('POST', '/v1/grading/evaluations', { token: key, body: gradeBody() }));
    expectStoreUnavailable(await call('POST', '/v1/learning-paths', { token: key, body: {} }));
    const ready = await call('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.json).toMatchObject({ status: 'unready', checks: { store: { ok: false } } });
    expectNoInternals(ready.text);
    expect((await call('GET', '/healthz')).status).toBe(200);
    // the logs have the details the client does not
    expect(t.logs.text()).toMatch(/"level":50/);
  });

  it('when the database is back, the same requests succeed again', { timeout: 30_000 }, async () => {
    proxy.restore();
    await until(async () => (await call('GET', '/readyz')).status === 200, 'readiness');
    expect((await call('GET', '/v1/me', { token: key })).status).toBe(200);
    expect((await call('POST', '/v1/learning-paths', { token: key, body: {} })).status).toBe(200);
  });
});
