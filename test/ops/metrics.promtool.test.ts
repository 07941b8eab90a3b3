import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LlmCallRecord } from '../../src/llm/client/types.js';
import { createBudgetUsageReader } from '../../src/features/observability/budget-usage.reader.js';
import { registerLlmMetrics, type LlmMetrics } from '../../src/features/observability/llm-metrics.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { runPromtool } from './run-promtool.js';

const usage = (input: number, output: number, cacheRead = 0, cacheWrite5m = 0) => ({ inputTokens: input, outputTokens: output, cacheReadTokens: cacheRead, cacheWrite5mTokens: cacheWrite5m, cacheWrite1hTokens: 0 });

const call = (over: Partial<LlmCallRecord>): LlmCallRecord => ({
  feature: 'grading',
  model: 'claude-haiku-4-5',
  attempts: 1,
  retries: 0,
  latencyMs: 1200,
  usage: usage(0, 0),
  outcome: 'ok',
  ...over,
});

describe('GET /metrics passes promtool check metrics', () => {
  let t: TestApp;
  let llm!: LlmMetrics;
  let text = '';

  beforeAll(async () => {
    t = await createTestApp({
      extend: (c) => {
        // Wired as the lead wires it in container.ts.
        llm = registerLlmMetrics(c.metrics.registry, c.prices, () => c.clock.now());
        llm.collectState({
          breakerState: () => c.llm.breakerState(),
          cacheStats: () => c.cache.stats(),
          budgets: createBudgetUsageReader({ budgets: c.budgets, policy: c.policy, clock: c.clock }),
        });
      },
    });
    llm.onCall(call({ usage: usage(1000, 200, 3000, 500) }));
    llm.onCall(call({ usage: usage(1000, 200), attempts: 3, retries: 2, latencyMs: 6500 }));
    llm.onCall(call({ feature: 'learning_path', model: 'claude-sonnet-4-6', outcome: 'upstream_timeout', attempts: 3, retries: 2, latencyMs: 30_000 }));
    llm.onCall(call({ outcome: 'circuit_open', attempts: 0, latencyMs: 0 }));
    await t.app.inject({ method: 'GET', url: '/healthz' }); // one HTTP observation too
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    text = res.body;
  });
  afterAll(() => t?.close());

  // The whole scrape, not only our metrics: prom-client's default nodejs_active_*_total
  // gauges fail this lint, which is why platform/metrics.ts drops them.
  it('reports no lint problems for any metric the app exposes', () => {
    const res = runPromtool(['check', 'metrics'], { input: text });
    expect({ status: res.status, out: (res.stdout + res.stderr).trim() }).toEqual({ status: 0, out: '' });
  });

  // A metric renamed in code leaves an alert on the old name that can never fire, and a
  // runbook query that answers nothing during an incident.
  it('exports every metric that the alert rules and the runbook name', () => {
    const read = (p: string) => readFileSync(fileURLToPath(new URL(`../../${p}`, import.meta.url)), 'utf8');
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const named = new Set(
      ['deploy/prometheus/alerts.yml', 'docs/operations.md', 'docs/adr/0004-metrics-and-alerting.md'].flatMap((f) =>
        [...read(f).matchAll(/\btutorgate_[a-z0-9_]*[a-z0-9]\b/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')),
      ),
    );
    expect(named.size).toBeGreaterThan(10);
    expect([...named].filter((n) => !exported.has(n))).toEqual([]);
  });

  it('prices calls through the price book and splits tokens by kind', () => {
    // haiku: 1000 in × $1 + 200 out × $5 + 3000 cache reads × $0.10 + 500 5m writes × $1.25 per Mtok,
    // then 1000 in + 200 out again: 2925 + 2000 micro-dollars.
    expect(text).toContain('tutorgate_llm_cost_usd_total{feature="grading",model="claude-haiku-4-5"} 0.004925');
    expect(text).toContain('tutorgate_llm_tokens_total{feature="grading",model="claude-haiku-4-5",kind="cache_read"} 3000');
    expect(text).toContain('tutorgate_llm_tokens_total{feature="grading",model="claude-haiku-4-5",kind="input"} 2000');
    expect(text).toContain('tutorgate_llm_retries_total{feature="grading"} 2');
    expect(text).toContain('tutorgate_llm_calls_total{feature="learning_path",model="claude-sonnet-4-6",outcome="upstream_timeout"} 1');
  });

  it('leaves calls refused locally out of the latency histogram', () => {
    // Three grading calls counted, two observed: the breaker refusal took no upstream time.
    expect(text).toContain('tutorgate_llm_calls_total{feature="grading",model="claude-haiku-4-5",outcome="circuit_open"} 1');
    expect(text).toContain('tutorgate_llm_call_duration_seconds_count{feature="grading",model="claude-haiku-4-5"} 2');
  });

  it('computes state gauges at scrape time', () => {
    expect(text).toMatch(/^tutorgate_llm_breaker_open 0$/m);
    expect(text).toMatch(/^tutorgate_cache_entries 0$/m);
    // The default policy has a global and two per-feature daily budgets, nothing spent yet.
    expect(text).toContain('tutorgate_budget_used_ratio{budget="global"} 0');
    expect(text).toContain('tutorgate_budget_limit_usd{budget="feature:grading"} 200');
  });
});
