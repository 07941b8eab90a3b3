import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../platform/policy.js';
import { PriceBook } from '../usage/price-book.js';
import { createBudgetUsageReader } from './budget-usage.reader.js';
import { registerLlmMetrics } from './llm-metrics.js';

const prices = new PriceBook(parsePolicy(undefined).prices);
const usage = { inputTokens: 100, outputTokens: 10, cacheReadTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0 };

describe('registerLlmMetrics', () => {
  it('can be registered twice on one registry (container and tests both wire it)', () => {
    const registry = new Registry();
    registerLlmMetrics(registry, prices).onCall({ feature: 'grading', model: 'claude-haiku-4-5', attempts: 1, retries: 0, latencyMs: 10, usage, outcome: 'ok' });
    expect(() => registerLlmMetrics(registry, prices)).not.toThrow();
  });

  it('counts a call on a model without a price instead of throwing into the LLM client', async () => {
    const registry = new Registry();
    const m = registerLlmMetrics(registry, prices);
    expect(() => m.onCall({ feature: 'grading', model: 'claude-unknown', attempts: 1, retries: 0, latencyMs: 10, usage, outcome: 'ok' })).not.toThrow();
    const text = await registry.metrics();
    expect(text).toContain('tutorgate_llm_unpriced_calls_total{model="claude-unknown"} 1');
    expect(text).toContain('tutorgate_llm_tokens_total{feature="grading",model="claude-unknown",kind="input"} 100');
  });

  it('keeps serving /metrics when the budget read fails', async () => {
    const registry = new Registry();
    registerLlmMetrics(registry, prices).collectState({ budgets: () => Promise.reject(new Error('db down')), breakerState: () => 'open' });
    const text = await registry.metrics();
    expect(text).toMatch(/^tutorgate_llm_breaker_open 1$/m);
  });
});

describe('createBudgetUsageReader', () => {
  it('reports the shared daily budgets of today as a share of their caps', async () => {
    const policy = parsePolicy({ budgets: { globalDailyUsd: 10, perFeatureDailyUsd: { grading: 4 }, perUserMonthlyUsd: { premium: 5 } } });
    const spent = new Map([
      ['global:2026-11-27', { spent: 2_500_000, reserved: 900_000 }],
      ['feature:grading:2026-11-27', { spent: 3_000_000, reserved: 0 }],
      ['feature:grading:2026-11-26', { spent: 4_000_000, reserved: 0 }], // yesterday: irrelevant
    ]);
    const read = createBudgetUsageReader({
      budgets: { read: async (keys: string[]) => new Map(keys.flatMap((k) => (spent.has(k) ? [[k, spent.get(k)!] as const] : []))) },
      policy,
      clock: { now: () => Date.parse('2026-11-27T18:00:00Z') },
    });
    expect(await read()).toEqual([
      { budget: 'global', used: 0.25, limitUsd: 10 }, // reserved money is not spent yet
      { budget: 'feature:grading', used: 0.75, limitUsd: 4 },
      { budget: 'feature:learning_path', used: 0, limitUsd: 100 }, // the built-in cap the file did not replace
    ]); // per-user monthly budgets stay out: one series per learner

  });
});
