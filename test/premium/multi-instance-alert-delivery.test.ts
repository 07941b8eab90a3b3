import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAlertEvaluator, type SharedAlertState } from '../../src/features/alerts/alert-evaluator.js';
import { createAlertMetricSource } from '../../src/features/alerts/alert-metrics.source.js';
import { createRedisAlertState } from '../../src/features/alerts/redis-alert-state.js';
import { connectTestRedis, deletePrefix, FAIL_FAST_REDIS, testPrefix } from '../../src/features/limits/rate-limiter.cases.js';
import { startAlertWebhook, type AlertWebhook } from '../helpers/alert-webhook.js';
import { openTestStore, type TestStore } from '../helpers/databases.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const HOUR = 3_600_000;

// The built-in alert evaluator on two instances behind one load balancer, one Postgres and one
// Redis, both running it (TUTORGATE_ALERT_EVALUATOR defaults to on), wired as serve() wires it.
describe('alert delivery with two instances on one Postgres and Redis', () => {
  let store: TestStore;
  let hook: AlertWebhook<{ alert: { name: string; status?: string; summary: string } }>;
  const redis: Redis[] = [];
  const apps: TestApp[] = [];
  const prefix = testPrefix('alert-state');
  let ledgerRows = 0;

  beforeAll(async () => {
    store = await openTestStore('postgres');
    hook = await startAlertWebhook();
    const webhook = hook.url;
    const policy = { alerts: { webhook, rules: [{ name: 'hourly-cost', metric: 'costUsdPerHour' as const, above: 1, cooldown: '1h' }] } };
    for (let i = 0; i < 2; i++) {
      redis.push(await connectTestRedis());
      apps.push(await createTestApp({ store, policy }));
    }
    await apps[0]!.container.identity.service.createUser({ id: 'spender', tier: 'premium', roles: ['learner'] });
  });
  beforeEach(() => {
    hook.received.length = 0;
  });
  afterAll(async () => {
    await deletePrefix(redis[0]!, prefix);
    for (const a of apps) await a.close();
    for (const r of redis) r.disconnect();
    await hook.close();
    await store.cleanup();
  });

  const evaluatorOf = (t: TestApp, shared: SharedAlertState | undefined, instance: string) =>
    createAlertEvaluator({
      rules: t.container.policy.alerts.rules,
      source: createAlertMetricSource({ db: t.store.db, registry: t.container.metrics.registry, clock: t.clock }),
      sink: t.container.alerts,
      clock: t.clock,
      ...(shared ? { shared } : {}),
      instance,
    });
  // A settled call of `usd` a second ago, in the shared ledger.
  const spend = async (usd: number) => {
    const at = apps[0]!.clock.now() - 1000;
    await store.store.db
      .insertInto('usage_ledger')
      .values({ id: `alert-cost-${++ledgerRows}`, message_id: `msg_alert_${ledgerRows}`, request_id: null, reservation_id: null, budget_keys: null, user_id: 'spender', feature: 'grading', model: 'claude-haiku-4-5', input_tokens: 10, output_tokens: 2, cache_write_5m_tokens: 0, cache_write_1h_tokens: 0, cache_read_tokens: 0, cost_micros: usd * 1e6, reserved_micros: 0, price_version: 'x', latency_ms: 1, outcome: 'ok', source: 'llm', status: 'settled', batch: 0, day: '2026-11-27', created_at: at, settled_at: at })
      .execute();
  };
  const advance = (ms: number) => apps.forEach((a) => a.clock.advance(ms));
  const messages = () => hook.received.map((m) => `${m.alert.status} ${m.alert.summary}`);

  it('sends each firing, repeat and resolved message once, whichever instance evaluates first', async () => {
    const evaluators = apps.map((t, i) => evaluatorOf(t, createRedisAlertState(redis[i]!, { prefix }), `instance-${i}`));
    const tick = () => Promise.all(evaluators.map((e) => e.evaluate()));
    await spend(2.5);
    await tick();
    await tick(); // within the cooldown: nothing more
    expect(messages()).toEqual(['firing costUsdPerHour is 2.50 USD/h (above 1.00 USD/h).']);

    advance(HOUR + 60_000); // the cooldown has passed and the first call left the window
    await spend(3);
    await tick();
    expect(messages().slice(1)).toEqual(['firing costUsdPerHour is 3.00 USD/h (above 1.00 USD/h), still firing.']);

    advance(HOUR + 60_000); // nothing spent in the last hour
    await tick();
    await tick();
    expect(messages().slice(2)).toEqual(['resolved costUsdPerHour is back to 0.00 USD/h.']);

    // The next breach is a new alert, announced once again.
    await spend(1.5);
    await tick();
    expect(messages().slice(3)).toEqual(['firing costUsdPerHour is 1.50 USD/h (above 1.00 USD/h).']);
    advance(HOUR + 60_000);
    await tick();
    expect(messages()).toHaveLength(5);
  });

  it('while Redis is down each instance still alerts, on its own copy of the state', async () => {
    const dead = new Redis({ ...FAIL_FAST_REDIS, port: 1, retryStrategy: () => 200 });
    dead.on('error', () => {});
    try {
      const evaluators = apps.map((t, i) => evaluatorOf(t, createRedisAlertState(dead, { prefix }), `instance-${i}`));
      await spend(4);
      await Promise.all(evaluators.map((e) => e.evaluate()));
      await Promise.all(evaluators.map((e) => e.evaluate()));
      // One message per instance, each deduplicated on its own, as before the shared state.
      expect(messages()).toEqual(['firing costUsdPerHour is 4.00 USD/h (above 1.00 USD/h).', 'firing costUsdPerHour is 4.00 USD/h (above 1.00 USD/h).']);
    } finally {
      dead.disconnect();
    }
  });
});
