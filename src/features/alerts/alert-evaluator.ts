import type { Clock } from '../../platform/clock.js';
import { parseDuration } from '../../platform/duration.js';
import type { ParsedPolicy } from '../../platform/policy.schema.js';
import type { AlertEvent, AlertSink } from './alert-sink.js';

export type AlertRule = ParsedPolicy['alerts']['rules'][number];
export type AlertMetric = AlertRule['metric'];

// undefined means "no data" (no traffic in the window, gauge not exported): a rule on it
// does not fire, and an alert already firing resolves, as in Prometheus.
export interface AlertMetricSource {
  costUsdPerHour(): Promise<number>;
  errorRatio(): Promise<number | undefined>;
  p95LatencyMs(): Promise<number | undefined>;
  budgetUsedRatio(): Promise<number | undefined>;
  breakerOpen(): Promise<number | undefined>;
  calibrationKappa(): Promise<number | undefined>;
}

/** Calls fn every ms until the returned cancel is called; injectable so tests drive ticks. */
export type Ticker = (ms: number, fn: () => void) => () => void;

const intervalTicker: Ticker = (ms, fn) => {
  const t = setInterval(fn, ms);
  t.unref(); // alerting must never keep a stopping process alive
  return () => clearInterval(t);
};

// Metrics every instance reads alike from the shared store (the ledger, budget counters, the
// newest calibration run): one condition for the whole fleet, so one message for it. The
// others (errorRatio, p95LatencyMs, breakerOpen) are each instance's own view and its own
// condition: each instance alerts on what it saw, naming itself.
export const FLEET_METRICS: ReadonlySet<AlertMetric> = new Set<AlertMetric>(['costUsdPerHour', 'budgetUsedRatio', 'calibrationKappa']);

export interface RuleState {
  firing: boolean;
  // When the last firing message was accepted; undefined while the alert has not been
  // announced yet (e.g. the webhook was down), so the next tick tries again.
  sentAt?: number;
  since?: number;
}

/**
 * A rule's state held for every instance (Redis), so that N instances running the evaluator
 * send one message per condition, not N. take() holds the rule while one instance evaluates
 * it: undefined when another instance holds it now (skip it this tick); rejects when the
 * store cannot answer (this instance then goes on with its own copy of the state).
 */
export interface SharedAlertState {
  take(rule: string): Promise<{ state: RuleState | undefined; save(state: RuleState): Promise<void>; release(): Promise<void> } | undefined>;
}

export interface AlertEvaluatorDeps {
  rules: readonly AlertRule[];
  source: AlertMetricSource;
  sink: Pick<AlertSink, 'deliver'>;
  clock: Clock;
  onError?: (err: unknown, metric: AlertMetric) => void;
  /** Fleet-wide rules' state across instances; without it each instance keeps its own. */
  shared?: SharedAlertState;
  onSharedError?: (err: unknown, rule: string) => void;
  /** Named in the details of per-instance rules (errorRatio, p95LatencyMs, breakerOpen). */
  instance?: string;
}

const FORMAT: Record<AlertMetric, (v: number) => string> = {
  costUsdPerHour: (v) => `${v.toFixed(2)} USD/h`,
  errorRatio: (v) => `${(v * 100).toFixed(1)} %`,
  p95LatencyMs: (v) => `${Math.round(v)} ms`,
  budgetUsedRatio: (v) => `${(v * 100).toFixed(1)} %`,
  breakerOpen: (v) => (v >= 1 ? 'open' : 'closed'),
  calibrationKappa: (v) => v.toFixed(2),
};

export function createAlertEvaluator(deps: AlertEvaluatorDeps): { evaluate(): Promise<void> } {
  const states = new Map<string, RuleState>();
  const cooldownMs = (r: AlertRule) => parseDuration(r.cooldown) ?? 3_600_000; // the schema has validated it

  const breached = (r: AlertRule, v: number | undefined) =>
    v !== undefined && !Number.isNaN(v) && ((r.above !== undefined && v > r.above) || (r.below !== undefined && v < r.below));

  const describe = (r: AlertRule, v: number) => {
    if (r.metric === 'breakerOpen') return 'the upstream circuit breaker is open';
    const limit = r.above !== undefined && v > r.above ? `above ${FORMAT[r.metric](r.above)}` : `below ${FORMAT[r.metric](r.below ?? 0)}`;
    return `${r.metric} is ${FORMAT[r.metric](v)} (${limit})`;
  };

  return {
    async evaluate() {
      const now = deps.clock.now();
      // Several rules may watch one metric (a warning and a critical threshold): read it once.
      const reads = new Map<AlertMetric, Promise<{ ok: true; value: number | undefined } | { ok: false }>>();
      const read = (m: AlertMetric) => {
        let p = reads.get(m);
        if (!p) {
          p = deps.source[m]().then(
            (value) => ({ ok: true as const, value }),
            (err: unknown) => (deps.onError?.(err, m), { ok: false as const }),
          );
          reads.set(m, p);
        }
        return p;
      };

      for (const rule of deps.rules) {
        const r = await read(rule.metric);
        // An unreadable metric says nothing about the condition: keep the state as it is
        // rather than announce a recovery nobody observed.
        if (!r.ok) continue;
        const fleet = FLEET_METRICS.has(rule.metric);
        let lease: Awaited<ReturnType<SharedAlertState['take']>>;
        if (fleet && deps.shared) {
          try {
            lease = await deps.shared.take(rule.name);
            if (!lease) continue; // another instance is evaluating it now
          } catch (err) {
            deps.onSharedError?.(err, rule.name); // on with this instance's copy of the state
          }
        }
        try {
          // The shared state when there is one; a copy is kept here for when Redis fails.
          const st: RuleState = lease ? { firing: false, ...lease.state } : (states.get(rule.name) ?? { firing: false });
          await step(rule, r.value, st, now, fleet);
          states.set(rule.name, st);
          if (lease) await lease.save(st);
        } catch (err) {
          deps.onSharedError?.(err, rule.name);
        } finally {
          await lease?.release().catch(() => undefined); // it lapses on its own
        }
      }
    },
  };

  async function step(rule: AlertRule, value: number | undefined, st: RuleState, now: number, fleet: boolean): Promise<void> {
    const instance = !fleet && deps.instance ? deps.instance : undefined;
    const on = instance ? ` on instance ${instance}` : ''; // the text is all a chat channel shows
    const details = { metric: rule.metric, value: value ?? null, above: rule.above ?? null, below: rule.below ?? null, ...(instance ? { instance } : {}) };
    if (breached(rule, value)) {
      if (!st.firing) Object.assign(st, { firing: true, sentAt: undefined, since: now });
      // Deduplication and cooldown: a firing alert is repeated only once its cooldown
      // has passed since the last message that got through.
      if (st.sentAt !== undefined && now - st.sentAt < cooldownMs(rule)) return;
      const event: AlertEvent = {
        name: rule.name,
        severity: 'warning',
        status: 'firing',
        summary: `${describe(rule, value!)}${on}${st.sentAt !== undefined ? ', still firing' : ''}.`,
        details: { ...details, since: new Date(st.since!).toISOString() },
      };
      if (await deps.sink.deliver(event)) st.sentAt = now;
    } else if (st.firing) {
      // Nobody heard it fire, so there is nothing to resolve.
      if (st.sentAt === undefined || (await deps.sink.deliver({ name: rule.name, severity: 'info', status: 'resolved', summary: `${rule.metric} is back to ${value === undefined ? 'no data' : FORMAT[rule.metric](value)}${on}.`, details }))) {
        st.firing = false;
        delete st.sentAt;
        delete st.since;
      }
    }
  }
}

export function startAlertEvaluator(deps: AlertEvaluatorDeps & { intervalMs: number; ticker?: Ticker }): { stop(): Promise<void> } {
  const evaluator = createAlertEvaluator(deps);
  let running: Promise<void> | undefined;
  const cancel = (deps.ticker ?? intervalTicker)(deps.intervalMs, () => {
    // A slow tick (SQL, webhook timeouts) must not overlap the next one and double-send.
    if (running) return;
    running = evaluator.evaluate().finally(() => {
      running = undefined;
    });
  });
  return {
    async stop() {
      cancel();
      await running;
    },
  };
}
