import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { LlmCallRecord } from '../../llm/client/types.js';
import type { PriceBook } from '../usage/price-book.js';

export interface BudgetUsage {
  /** Bounded label value, e.g. "global" or "feature:grading"; never a user id (cardinality). */
  budget: string;
  /** Spent share of the cap, 0..1 (above 1 only if a cap was lowered after spending). */
  used: number;
  limitUsd?: number;
}

// Read at scrape time, so /metrics shows the state now rather than at the last call.
export interface LlmStateGetters {
  breakerState?: () => 'closed' | 'open' | 'half_open';
  cacheStats?: () => { entries: number; bytes: number };
  budgets?: () => Promise<BudgetUsage[]>;
}

export interface LlmMetrics {
  onCall(rec: LlmCallRecord): void;
  collectState(getters: LlmStateGetters): void;
}

export const LLM_CALLS_METRIC = 'tutorgate_llm_calls_total';
export const BREAKER_OPEN_METRIC = 'tutorgate_llm_breaker_open';
export const BUDGET_USED_METRIC = 'tutorgate_budget_used_ratio';

// Upstream calls take seconds, not milliseconds: the HTTP histogram's buckets would put
// every call in the last two.
const CALL_BUCKETS = [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128];

function reuse<T>(registry: Registry, name: string, make: () => T): T {
  // Idempotent per registry: tests and the container may both register.
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function registerLlmMetrics(registry: Registry, prices: Pick<PriceBook, 'cost'>, now: () => number = Date.now): LlmMetrics {
  const registers = [registry];
  const calls = reuse(registry, LLM_CALLS_METRIC, () =>
    new Counter({ name: LLM_CALLS_METRIC, help: 'Upstream LLM calls (retries included in one call) by feature, model and outcome (ok or an error code).', labelNames: ['feature', 'model', 'outcome'] as const, registers }),
  );
  const duration = reuse(registry, 'tutorgate_llm_call_duration_seconds', () =>
    new Histogram({ name: 'tutorgate_llm_call_duration_seconds', help: 'Wall time of upstream LLM calls in seconds, retries included; calls refused locally are not observed.', labelNames: ['feature', 'model'] as const, buckets: CALL_BUCKETS, registers }),
  );
  const tokens = reuse(registry, 'tutorgate_llm_tokens_total', () =>
    new Counter({ name: 'tutorgate_llm_tokens_total', help: 'Tokens billed by the upstream, by kind: input, output, cache_read, cache_write (5m and 1h writes together).', labelNames: ['feature', 'model', 'kind'] as const, registers }),
  );
  const cost = reuse(registry, 'tutorgate_llm_cost_usd_total', () =>
    new Counter({ name: 'tutorgate_llm_cost_usd_total', help: 'Cost of upstream LLM calls in US dollars, priced with the policy price book at call time.', labelNames: ['feature', 'model'] as const, registers }),
  );
  const unpriced = reuse(registry, 'tutorgate_llm_unpriced_calls_total', () =>
    new Counter({ name: 'tutorgate_llm_unpriced_calls_total', help: 'Upstream calls whose model has no price in the policy; their cost is missing from tutorgate_llm_cost_usd_total.', labelNames: ['model'] as const, registers }),
  );
  const retries = reuse(registry, 'tutorgate_llm_retries_total', () =>
    new Counter({ name: 'tutorgate_llm_retries_total', help: 'HTTP retries of upstream LLM calls (beyond the first attempt).', labelNames: ['feature'] as const, registers }),
  );

  let getters: LlmStateGetters = {};
  reuse(registry, BREAKER_OPEN_METRIC, () =>
    new Gauge({
      name: BREAKER_OPEN_METRIC,
      help: 'Whether this instance\'s upstream circuit breaker is open (1) or not (0); half-open counts as 0.',
      registers,
      collect() {
        this.set(getters.breakerState?.() === 'open' ? 1 : 0);
      },
    }),
  );
  reuse(registry, 'tutorgate_cache_entries', () =>
    new Gauge({
      name: 'tutorgate_cache_entries',
      help: 'Entries in this instance\'s in-memory response cache tier.',
      registers,
      collect() {
        const s = getters.cacheStats?.();
        if (s) this.set(s.entries);
      },
    }),
  );
  reuse(registry, 'tutorgate_cache_bytes', () =>
    new Gauge({
      name: 'tutorgate_cache_bytes',
      help: 'Approximate size in bytes of this instance\'s in-memory response cache tier.',
      registers,
      collect() {
        const s = getters.cacheStats?.();
        if (s) this.set(s.bytes);
      },
    }),
  );

  let pending: Promise<BudgetUsage[] | undefined> | undefined;
  const readBudgets = (): Promise<BudgetUsage[] | undefined> => {
    // A scrape collects every metric concurrently, so both budget gauges share one SQL read.
    pending ??= (getters.budgets?.() ?? Promise.resolve(undefined))
      .catch(() => undefined) // a failing read must not fail the whole scrape; the gauges just go stale
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
  reuse(registry, BUDGET_USED_METRIC, () =>
    new Gauge({
      name: BUDGET_USED_METRIC,
      help: 'Share of a shared budget (global or per feature, current period) already spent, 0 to 1.',
      labelNames: ['budget'] as const,
      registers,
      async collect() {
        const rows = await readBudgets();
        if (!rows) return;
        this.reset(); // a budget removed from the policy must disappear, not freeze
        for (const r of rows) this.set({ budget: r.budget }, r.used);
      },
    }),
  );
  reuse(registry, 'tutorgate_budget_limit_usd', () =>
    new Gauge({
      name: 'tutorgate_budget_limit_usd',
      help: 'Cap of a shared budget in US dollars for its current period (global and per-feature budgets are daily).',
      labelNames: ['budget'] as const,
      registers,
      async collect() {
        const rows = await readBudgets();
        if (!rows) return;
        this.reset();
        for (const r of rows) if (r.limitUsd !== undefined) this.set({ budget: r.budget }, r.limitUsd);
      },
    }),
  );

  return {
    onCall(rec) {
      const fm = { feature: rec.feature, model: rec.model };
      calls.inc({ ...fm, outcome: rec.outcome });
      // A call refused locally (breaker, queue, no key) took no upstream time; observing
      // its ~0 s would pull the latency percentiles down exactly when things go wrong.
      if (rec.attempts > 0) duration.observe(fm, rec.latencyMs / 1000);
      if (rec.retries > 0) retries.inc({ feature: rec.feature }, rec.retries);
      const u = rec.usage;
      const kinds: [string, number][] = [
        ['input', u.inputTokens],
        ['output', u.outputTokens],
        ['cache_read', u.cacheReadTokens],
        ['cache_write', u.cacheWrite5mTokens + u.cacheWrite1hTokens],
      ];
      for (const [kind, n] of kinds) if (n > 0) tokens.inc({ ...fm, kind }, n);
      if (kinds.every(([, n]) => n === 0)) return;
      try {
        cost.inc(fm, prices.cost(rec.model, u, now()).costMicros / 1e6);
      } catch {
        // Metering refuses unknown models before the call; this only guards a metrics path
        // that must never throw into the LLM client.
        unpriced.inc({ model: rec.model });
      }
    },
    collectState(next) {
      getters = next;
    },
  };
}
