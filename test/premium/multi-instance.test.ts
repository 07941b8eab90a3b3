import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRedis } from '../../src/main.js';
import { openTestStore, REDIS_TEST_URL, type TestStore } from '../helpers/databases.js';
import { bearer } from '../helpers/test-app.js';
import { createSimulatedApp } from '../helpers/simulated-app.js';

type App = Awaited<ReturnType<typeof createSimulatedApp>>;

const ready = (r: Redis) => new Promise<void>((res) => (r.status === 'ready' ? res() : r.once('ready', () => res())));

describe('two instances on one Postgres and one Redis', () => {
  let store: TestStore;
  const redis: Redis[] = [];
  let a: App;
  let b: App;
  const run = randomUUID().slice(0, 8); // Redis outlives test runs: keep this run's keys apart

  beforeAll(async () => {
    store = await openTestStore('postgres');
    for (let i = 0; i < 2; i++) {
      const r = openRedis(REDIS_TEST_URL);
      await ready(r);
      redis.push(r);
    }
    const policy = { limits: { premium: { requestsPerMinute: 5, requestsPerHour: 1000, tokensPerDay: 10_000_000, concurrent: 20 } } };
    a = await createSimulatedApp({ store, redis: redis[0]!, policy });
    b = await createSimulatedApp({ store, redis: redis[1]!, policy });
    for (const t of [a, b]) {
      t.sim.script.when('<student_answer>', {
        json: { criteria: [{ criterionId: 'correctness', levelId: 'correct', evidence: [], justification: 'ok' }], feedback: { strengths: ['ok'], improve: ['more'], nextStep: 'next' }, confidence: 0.95 },
      });
    }
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    for (const r of redis) r.disconnect();
    await store.cleanup();
  });

  const grade = (t: App, key: string, answer: string) =>
    t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: { question: 'Why?', referenceAnswer: 'Because the water evaporates.', answer } });

  it('shares rate limits: a user limited to 5 a minute gets 5 in total across instances', async () => {
    const key = await a.premium(`mi-limit-${run}`);
    const codes = await Promise.all(Array.from({ length: 10 }, (_, i) => grade(i % 2 ? a : b, key, `answer ${run} ${i}`).then((r) => r.statusCode)));
    expect(codes.filter((c) => c === 200)).toHaveLength(5);
    expect(codes.filter((c) => c === 429)).toHaveLength(5);
  });

  it('shares the response cache: a grade made on one instance is a hit on the other', async () => {
    const key = await a.premium(`mi-cache-${run}`);
    expect((await grade(a, key, `shared cache ${run}`)).json().source).toBe('llm');
    const before = b.sim.stats().messages;
    const onB = (await grade(b, key, `shared cache ${run}`)).json();
    expect(onB).toMatchObject({ source: 'cache', usage: { costUsd: 0 } });
    expect(b.sim.stats().messages).toBe(before);
  });

  it('shares flags: a kill switch on one instance reaches the other within a second', async () => {
    const admin = await a.premium(`mi-admin-${run}`, ['admin']);
    const key = await a.premium(`mi-flag-${run}`);
    await a.app.inject({ method: 'PUT', url: '/v1/admin/flags/grading', headers: bearer(admin), payload: { enabled: false } });
    const deadline = Date.now() + 1000;
    let seen = b.container.flags.snapshot.get('grading')?.enabled;
    while (seen !== false && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      seen = b.container.flags.snapshot.get('grading')?.enabled;
    }
    expect(seen).toBe(false);
    expect((await grade(b, key, `flag ${run}`)).json().fallbackReason).toBe('flag_off');
    await a.app.inject({ method: 'PUT', url: '/v1/admin/flags/grading', headers: bearer(admin), payload: { enabled: true } });
    const back = Date.now() + 1000;
    while (b.container.flags.snapshot.get('grading')?.enabled !== true && Date.now() < back) await new Promise((r) => setTimeout(r, 20));
    expect(b.container.flags.snapshot.get('grading')?.enabled).toBe(true);
  });

  it('shares budgets and the ledger: both instances settle into the same counters', async () => {
    const key = await a.premium(`mi-budget-${run}`);
    expect((await grade(a, key, `budget one ${run}`)).json().source).toBe('llm');
    const second = (await grade(b, key, `budget two ${run}`)).json();
    expect(second.source, JSON.stringify(second)).toBe('llm');
    const usage = (await b.app.inject({ method: 'GET', url: '/v1/usage/me', headers: bearer(key) })).json();
    expect(usage.totals.calls).toBe(2);
    const me = (await a.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(key) })).json();
    expect(me.budget.spentUsd).toBeCloseTo(usage.totals.costUsd, 6);
  });

  // Whoever can read Redis (an operator, a backup, a monitoring tool) sees its key names: the
  // cache must not spell out who asked for what, even where it keeps per-user entries.
  it('writes no raw user id or client address into any Redis key name: caches, limits and the auth-failure counter name them by hash', async () => {
    const user = `mi-raw-${run}@example.org`;
    const key = await a.premium(user);
    const address = `198.51.100.${1 + (parseInt(run, 16) % 250)}`;
    const guess = await a.app.inject({ method: 'GET', url: '/v1/me', headers: bearer('tg_wrong-guess'), remoteAddress: address });
    expect(guess.statusCode).toBe(401); // counted against the address
    const first = await a.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: bearer(key), payload: {} });
    expect(first.statusCode, first.body).toBe(200);
    const again = (await b.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: bearer(key), payload: {} })).json();
    expect(again.source).toBe('cache'); // the entry is in Redis (instance b never computed it)
    const names: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis[0]!.scan(cursor, 'COUNT', 1000);
      cursor = next;
      names.push(...batch);
    } while (cursor !== '0');
    expect(names.some((n) => n.includes('user:'))).toBe(true); // the per-user tag index exists…
    expect(names.some((n) => n.includes(':authfail'))).toBe(true); // …and the address's failure count…
    expect(names.filter((n) => n.includes(`mi-raw-${run}`) || n.includes(address))).toEqual([]); // …under no raw id or address
  });
});
