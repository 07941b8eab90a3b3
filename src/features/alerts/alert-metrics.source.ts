import type { Registry } from 'prom-client';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import type { AlertMetricSource } from './alert-evaluator.js';

export const PREMIUM_ROUTES = ['/v1/grading/evaluations', '/v1/learning-paths'] as const;
const HTTP_DURATION = 'tutorgate_http_request_duration_seconds';
const LLM_CALLS = 'tutorgate_llm_calls_total';
const BUDGET_USED = 'tutorgate_budget_used_ratio';
const BREAKER_OPEN = 'tutorgate_llm_breaker_open';
const KAPPA = 'tutorgate_grading_calibration_kappa';

type Sample = { value: number; labels: Record<string, string | number> };

async function read(registry: Registry, name: string): Promise<Sample[] | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return undefined;
  return (await metric.get()).values as Sample[];
}

// Registry counters only grow from process start; alerts need the recent past. Keeping
// one snapshot per evaluation and subtracting the newest one at least a window old gives
// an increase over roughly the last window (since start until the process is that old).
class CounterWindow {
  private snapshots: { at: number; values: Map<string, number> }[] = [];
  constructor(private readonly windowMs: number) {}

  increase(now: number, current: Map<string, number>): Map<string, number> {
    this.snapshots.push({ at: now, values: current });
    let base = -1;
    for (let i = this.snapshots.length - 1; i >= 0; i--) {
      if (this.snapshots[i]!.at <= now - this.windowMs) {
        base = i;
        break;
      }
    }
    if (base > 0) this.snapshots.splice(0, base); // older ones can never be a baseline again
    const before = base >= 0 ? this.snapshots[0]!.values : new Map<string, number>();
    const out = new Map<string, number>();
    for (const [k, v] of current) {
      const b = before.get(k) ?? 0;
      out.set(k, v >= b ? v - b : v); // a smaller value means the metric was reset
    }
    return out;
  }
}

// Same method as PromQL's histogram_quantile: linear interpolation inside the bucket that
// holds the rank; a rank in the +Inf bucket answers the highest finite bound.
export function bucketQuantile(q: number, buckets: [number, number][]): number | undefined {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevCount) / (count - prevCount || 1));
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

// The ledger sum below would belong in the usage feature's repository; it sits here, alone
// and named, because it is the one query the alerting feature needs.
async function settledCostMicrosSince(db: Db, since: number): Promise<number> {
  const row = await db
    .selectFrom('usage_ledger')
    .select((eb) => eb.fn.sum<number | string | null>('cost_micros').as('micros'))
    .where('status', '=', 'settled')
    .where('created_at', '>=', since)
    .executeTakeFirst();
  return Number(row?.micros ?? 0); // Postgres returns sum(bigint) as a numeric string
}

export function createAlertMetricSource(deps: { db: Db; registry: Registry; clock: Clock; windowMs?: number; premiumRoutes?: readonly string[] }): AlertMetricSource {
  const windowMs = deps.windowMs ?? 5 * 60_000;
  const routes = new Set<string>(deps.premiumRoutes ?? PREMIUM_ROUTES);
  const callsWindow = new CounterWindow(windowMs);
  const latencyWindow = new CounterWindow(windowMs);

  const extreme = async (name: string, pick: (a: number, b: number) => number) => {
    const values = (await read(deps.registry, name))?.map((s) => s.value).filter((v) => !Number.isNaN(v));
    return values && values.length > 0 ? values.reduce((a, b) => pick(a, b)) : undefined;
  };

  return {
    // The ledger, not the registry: it covers every instance and survives restarts.
    async costUsdPerHour() {
      return (await settledCostMicrosSince(deps.db, deps.clock.now() - 3_600_000)) / 1e6;
    },

    async errorRatio() {
      const current = new Map<string, number>();
      for (const s of (await read(deps.registry, LLM_CALLS)) ?? []) {
        const k = s.labels.outcome === 'ok' ? 'ok' : 'error';
        current.set(k, (current.get(k) ?? 0) + s.value);
      }
      const inc = callsWindow.increase(deps.clock.now(), current);
      const ok = inc.get('ok') ?? 0;
      const errors = inc.get('error') ?? 0;
      return ok + errors > 0 ? errors / (ok + errors) : undefined;
    },

    async p95LatencyMs() {
      // Cumulative bucket counts summed over premium routes, methods and statuses, by bound.
      const current = new Map<string, number>();
      for (const s of (await read(deps.registry, HTTP_DURATION)) ?? []) {
        if (s.labels.le === undefined || !routes.has(String(s.labels.route))) continue;
        const le = String(s.labels.le);
        current.set(le, (current.get(le) ?? 0) + s.value);
      }
      const inc = latencyWindow.increase(deps.clock.now(), current);
      const q = bucketQuantile(0.95, [...inc].map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n]));
      return q === undefined ? undefined : q * 1000;
    },

    // Gauges collected at read time (see observability/llm-metrics): the same numbers
    // Prometheus would scrape, so both alert paths agree.
    budgetUsedRatio: () => extreme(BUDGET_USED, Math.max),
    breakerOpen: () => extreme(BREAKER_OPEN, Math.max),
    // Worst calibration when the grading feature exports one series per rubric or model.
    calibrationKappa: () => extreme(KAPPA, Math.min),
  };
}
