import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRedis } from '../../src/main.js';
import { userHash } from '../../src/platform/pseudonym.js';
import { startAlertWebhook, type AlertWebhook } from '../helpers/alert-webhook.js';
import { openTestStore, REDIS_TEST_URL, type TestStore } from '../helpers/databases.js';
import { bearer } from '../helpers/test-app.js';
import { createSimulatedApp, gradeEveryAnswerValidly } from '../helpers/simulated-app.js';

type App = Awaited<ReturnType<typeof createSimulatedApp>>;

const ready = (r: Redis) => new Promise<void>((res) => (r.status === 'ready' ? res() : r.once('ready', () => res())));

// The rate-limit abuse notice (20 rejections of one user in 5 minutes) with two instances
// behind a load balancer that spreads the user's requests between them.
describe('rate-limit abuse alerts with two instances on one Redis', () => {
  let store: TestStore;
  const redis: Redis[] = [];
  let a: App;
  let b: App;
  let hook: AlertWebhook<{ alert: { name: string; details?: { kind?: string; key?: string } } }>;
  const run = randomUUID().slice(0, 8); // Redis outlives test runs: keep this run's users apart

  beforeAll(async () => {
    store = await openTestStore('postgres');
    hook = await startAlertWebhook();
    const webhook = hook.url;
    for (let i = 0; i < 2; i++) {
      const r = openRedis(REDIS_TEST_URL);
      await ready(r);
      redis.push(r);
    }
    const policy = { limits: { premium: { requestsPerMinute: 1, requestsPerHour: 1000, tokensPerDay: 10_000_000, concurrent: 20 } }, alerts: { webhook } };
    a = await createSimulatedApp({ store, redis: redis[0]!, policy });
    b = await createSimulatedApp({ store, redis: redis[1]!, policy });
    gradeEveryAnswerValidly(a.sim);
    gradeEveryAnswerValidly(b.sim);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    for (const r of redis) r.disconnect();
    await hook.close();
    await store.cleanup();
  });

  it('one user rejected 30 times, half on each instance, raises one alert, not none', async () => {
    const user = `mi-abuse-${run}`;
    const key = await a.premium(user);
    const codes: number[] = [];
    for (let i = 0; i < 31; i++) {
      const r = await (i % 2 ? b : a).app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: { question: 'Why?', referenceAnswer: 'It evaporates.', answer: `answer ${run} ${i}` } });
      codes.push(r.statusCode);
    }
    expect(codes.filter((c) => c === 429)).toHaveLength(30);
    const mine = () => hook.received.filter((m) => m.alert.name === 'rate-limit-abuse' && m.alert.details?.kind === 'user' && m.alert.details.key === user);
    // Every rejection counted (the counts are fire-and-forget), then the alerts delivered.
    const hash = userHash(user);
    const deadline = Date.now() + 10_000;
    const counted = async () => {
      const names = (await redis[0]!.keys(`tg:abuse:*:premium:${hash}`)) as string[];
      let n = 0;
      for (const name of names) n += Number(await redis[0]!.get(name));
      return n;
    };
    while (((await counted()) < 30 || mine().length < 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(mine()).toHaveLength(1);
    expect(await counted()).toBe(30);
    for (const name of (await redis[0]!.keys(`tg:abuse:*:premium:${hash}`)) as string[]) await redis[0]!.del(name);
  });
});
