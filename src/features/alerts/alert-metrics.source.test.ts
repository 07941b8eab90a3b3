import { Gauge } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UsageLedgerTable } from '../../platform/db/schema.js';
import { createMetrics } from '../../platform/metrics.js';
import { parsePolicy } from '../../platform/policy.js';
import { registerLlmMetrics } from '../observability/llm-metrics.js';
import { PriceBook } from '../usage/price-book.js';
import { openTestStore, STORE_KINDS, type TestStore } from '../../../test/helpers/databases.js';
import { bucketQuantile, createAlertMetricSource } from './alert-metrics.source.js';

const NOW = Date.parse('2026-11-27T12:00:00Z');
const MIN = 60_000;
let seq = 0;
const ledgerRow = (over: Partial<UsageLedgerTable>): UsageLedgerTable => ({
  id: `led_${++seq}`,
  message_id: `msg_${seq}`,
  request_id: null,
  reservation_id: null,
  budget_keys: null,
  user_id: 'u1',
  feature: 'grading',
  model: 'claude-haiku-4-5',
  input_tokens: 100,
  output_tokens: 10,
  cache_write_5m_tokens: 0,
  cache_write_1h_tokens: 0,
  cache_read_tokens: 0,
  cost_micros: 0,
  reserved_micros: 0,
  price_version: 'claude-haiku-4-5@2025-10-01',
  latency_ms: 100,
  outcome: 'ok',
  source: 'llm',
  status: 'settled',
  batch: 0,
  day: '2026-11-27',
  created_at: NOW,
  settled_at: NOW,
  ...over,
});

describe.each(STORE_KINDS)('costUsdPerHour from the ledger on %s', (kind) => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await openTestStore(kind);
  });
  afterAll(() => ts.cleanup());

  it('sums settled rows of the last hour only', async () => {
    const registry = createMetrics().registry;
    const source = createAlertMetricSource({ db: ts.store.db, registry, clock: { now: () => NOW } });
    expect(await source.costUsdPerHour()).toBe(0);
    await ts.store.db
      .insertInto('usage_ledger')
      .values([
        ledgerRow({ cost_micros: 2_500_000, created_at: NOW - 10 * MIN }),
        ledgerRow({ cost_micros: 1_000_000, created_at: NOW - 60 * MIN }), // exactly an hour ago: in
        ledgerRow({ cost_micros: 9_000_000, created_at: NOW - 61 * MIN }), // older: out
        ledgerRow({ cost_micros: 7_000_000, created_at: NOW - MIN, status: 'pending', settled_at: null }), // reserved, not spent
      ])
      .execute();
    expect(await source.costUsdPerHour()).toBe(3.5);
  });
});

describe('registry-based alert metrics', () => {
  const clock = { ms: NOW, now: () => clock.ms };
  const setup = () => {
    const m = createMetrics();
    const llm = registerLlmMetrics(m.registry, new PriceBook(parsePolicy(undefined).prices));
    // These metrics never touch SQL, so no store is opened for them.
    const source = createAlertMetricSource({ db: undefined as never, registry: m.registry, clock, windowMs: 5 * MIN });
    return { ...m, llm, source };
  };
  const call = (outcome: 'ok' | 'upstream_timeout') => ({
    feature: 'grading',
    model: 'claude-haiku-4-5',
    attempts: 1,
    retries: 0,
    latencyMs: 900,
    outcome,
    usage: { inputTokens: 10, outputTokens: 1, cacheReadTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0 },
  });

  it('computes the upstream error ratio over the recent window, not since start', async () => {
    const { llm, source } = setup();
    expect(await source.errorRatio()).toBeUndefined(); // no calls: no data, not 0 %
    for (let i = 0; i < 6; i++) llm.onCall(call('ok'));
    for (let i = 0; i < 4; i++) llm.onCall(call('upstream_timeout'));
    expect(await source.errorRatio()).toBeCloseTo(0.4);

    clock.ms += 6 * MIN; // the bad minute is now older than the window
    for (let i = 0; i < 10; i++) llm.onCall(call('ok'));
    expect(await source.errorRatio()).toBe(0);
  });

  it('takes p95 latency from premium routes only, in milliseconds', async () => {
    const { httpDuration, source } = setup();
    for (let i = 0; i < 100; i++) httpDuration.observe({ method: 'POST', route: '/v1/grading/evaluations', status: '200' }, i < 90 ? 0.3 : 4);
    for (let i = 0; i < 100; i++) httpDuration.observe({ method: 'GET', route: '/v1/admin/usage', status: '200' }, 9);
    // 90 in (0.25, 0.5], 10 in (2.5, 5]: rank 95 lies halfway into the (2.5, 5] bucket.
    expect(await source.p95LatencyMs()).toBeCloseTo(3750);
  });

  it('reads a p95 of requests slower than the 10 s alert as above 10 s', async () => {
    const { httpDuration, source } = setup();
    // Every request takes 30 s: with 10 s as the top bucket this read exactly 10,000 ms,
    // and the shipped "p95 above 10,000 ms" alert could never fire.
    for (let i = 0; i < 20; i++) httpDuration.observe({ method: 'POST', route: '/v1/grading/evaluations', status: '200' }, 30);
    expect(await source.p95LatencyMs()).toBeGreaterThan(10_000);
  });

  it('reads breaker, budget and calibration gauges, and no data when they are absent', async () => {
    const { registry, llm, source } = setup();
    expect(await source.calibrationKappa()).toBeUndefined();
    let state: 'open' | 'closed' = 'closed';
    llm.collectState({
      breakerState: () => state,
      budgets: async () => [
        { budget: 'global', used: 0.35 },
        { budget: 'feature:grading', used: 0.82 },
      ],
    });
    expect(await source.breakerOpen()).toBe(0);
    state = 'open';
    expect(await source.breakerOpen()).toBe(1);
    expect(await source.budgetUsedRatio()).toBe(0.82);

    const kappa = new Gauge({ name: 'tutorgate_grading_calibration_kappa', help: 'kappa', labelNames: ['rubric'], registers: [registry] });
    kappa.set({ rubric: 'a' }, 0.81);
    kappa.set({ rubric: 'b' }, 0.55);
    expect(await source.calibrationKappa()).toBe(0.55); // the worst rubric decides
  });
});

describe('bucketQuantile', () => {
  it('interpolates like histogram_quantile and caps at the highest finite bound', () => {
    expect(bucketQuantile(0.5, [[1, 50], [2, 100], [Infinity, 100]])).toBe(1);
    expect(bucketQuantile(0.95, [[1, 0], [10, 0], [25, 10], [Infinity, 10]])).toBeCloseTo(24.25); // as in alerts.test.yml
    expect(bucketQuantile(0.95, [[1, 10], [Infinity, 100]])).toBe(1);
    expect(bucketQuantile(0.95, [[1, 0], [Infinity, 0]])).toBeUndefined();
  });
});
