import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAlertEvaluator, startAlertEvaluator, type AlertMetricSource, type AlertRule, type RuleState, type SharedAlertState } from './alert-evaluator.js';
import { createAlertSink } from './alert-sink.js';

// A real Slack-style incoming webhook on loopback: records every POST body, and answers
// with the status the test sets (to simulate an outage).
class WebhookReceiver {
  readonly bodies: { text: string; alert: { name: string; status?: string; summary: string } }[] = [];
  status = 200;
  private server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      if (this.status === 200) this.bodies.push(JSON.parse(raw) as WebhookReceiver['bodies'][number]);
      res.writeHead(this.status).end('ok');
    });
  });
  url = '';
  async start() {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }
  close() {
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
  texts() {
    return this.bodies.map((b) => b.text);
  }
}

class FakeSource implements AlertMetricSource {
  values: Partial<Record<keyof AlertMetricSource, number | undefined | Error>> = {};
  private get(m: keyof AlertMetricSource) {
    const v = this.values[m];
    return v instanceof Error ? Promise.reject(v) : Promise.resolve(v);
  }
  costUsdPerHour = async () => (await this.get('costUsdPerHour')) ?? 0;
  errorRatio = () => this.get('errorRatio');
  p95LatencyMs = () => this.get('p95LatencyMs');
  budgetUsedRatio = () => this.get('budgetUsedRatio');
  breakerOpen = () => this.get('breakerOpen');
  calibrationKappa = () => this.get('calibrationKappa');
}

const MIN = 60_000;
const logger = pino({ level: 'silent' });

describe('alert evaluator against a real webhook', () => {
  const hook = new WebhookReceiver();
  let source: FakeSource;
  let clock: { ms: number; now(): number };
  const costRule: AlertRule = { name: 'hourly-cost', metric: 'costUsdPerHour', above: 20, cooldown: '1h' };

  beforeAll(() => hook.start());
  afterAll(() => hook.close());
  beforeEach(() => {
    hook.bodies.length = 0;
    hook.status = 200;
    source = new FakeSource();
    clock = { ms: Date.parse('2026-11-27T12:00:00Z'), now: () => clock.ms };
  });
  const evaluator = (rules: AlertRule[]) => createAlertEvaluator({ rules, source, clock, sink: createAlertSink({ webhook: hook.url, logger }) });

  it('fires once, stays quiet during the cooldown, repeats after it, and resolves once', async () => {
    const ev = evaluator([costRule]);
    source.values.costUsdPerHour = 12;
    await ev.evaluate();
    expect(hook.bodies).toHaveLength(0);

    source.values.costUsdPerHour = 25.5;
    await ev.evaluate();
    expect(hook.texts()).toEqual(['[tutorgate] WARNING hourly-cost: costUsdPerHour is 25.50 USD/h (above 20.00 USD/h).']);

    for (const minutes of [1, 15, 15, 28]) {
      clock.ms += minutes * MIN; // still firing, up to 59 minutes into the hour of cooldown
      await ev.evaluate();
    }
    expect(hook.bodies).toHaveLength(1);

    clock.ms += 2 * MIN; // 61 minutes after the first message
    source.values.costUsdPerHour = 31;
    await ev.evaluate();
    expect(hook.bodies).toHaveLength(2);
    expect(hook.bodies[1]!.alert).toMatchObject({ name: 'hourly-cost', status: 'firing', summary: 'costUsdPerHour is 31.00 USD/h (above 20.00 USD/h), still firing.' });

    clock.ms += MIN;
    source.values.costUsdPerHour = 4;
    await ev.evaluate();
    await ev.evaluate();
    expect(hook.bodies).toHaveLength(3);
    expect(hook.texts()[2]).toBe('[tutorgate] RESOLVED hourly-cost: costUsdPerHour is back to 4.00 USD/h.');

    // A new breach after the resolution is news: sent at once, not held back by the cooldown.
    clock.ms += MIN;
    source.values.costUsdPerHour = 22;
    await ev.evaluate();
    expect(hook.bodies.map((b) => b.alert.status)).toEqual(['firing', 'firing', 'resolved', 'firing']);
  });

  it('keeps trying while the webhook is down and then sends the alert exactly once', async () => {
    const ev = evaluator([costRule]);
    source.values.costUsdPerHour = 50;
    hook.status = 503;
    await ev.evaluate();
    clock.ms += MIN;
    await ev.evaluate();
    expect(hook.bodies).toHaveLength(0);

    hook.status = 200;
    clock.ms += MIN;
    await ev.evaluate();
    clock.ms += MIN;
    await ev.evaluate();
    expect(hook.bodies.map((b) => b.alert.status)).toEqual(['firing']);
  });

  it('does not resolve an alert when its metric cannot be read', async () => {
    const ev = evaluator([costRule]);
    source.values.costUsdPerHour = 50;
    await ev.evaluate();
    source.values.costUsdPerHour = new Error('database is down');
    clock.ms += MIN;
    await ev.evaluate();
    expect(hook.bodies).toHaveLength(1);
  });

  it('handles "below" thresholds and treats missing data as not firing', async () => {
    const ev = evaluator([
      { name: 'kappa-drift', metric: 'calibrationKappa', below: 0.6, cooldown: '6h' },
      { name: 'errors', metric: 'errorRatio', above: 0.1, cooldown: '15m' },
    ]);
    await ev.evaluate(); // neither gauge exported yet, no traffic
    expect(hook.bodies).toHaveLength(0);

    source.values.calibrationKappa = 0.42;
    source.values.errorRatio = 0.1; // at the threshold, not above it
    await ev.evaluate();
    expect(hook.texts()).toEqual(['[tutorgate] WARNING kappa-drift: calibrationKappa is 0.42 (below 0.60).']);

    source.values.calibrationKappa = undefined; // the grading feature stopped exporting it
    await ev.evaluate();
    expect(hook.bodies.at(-1)!.alert).toMatchObject({ name: 'kappa-drift', status: 'resolved', summary: 'calibrationKappa is back to no data.' });
  });

  it('runs on its ticker until stopped', async () => {
    let tick: (() => void) | undefined;
    let cancelled = false;
    const handle = startAlertEvaluator({
      rules: [{ name: 'breaker', metric: 'breakerOpen', above: 0, cooldown: '10m' }],
      source,
      clock,
      sink: createAlertSink({ webhook: hook.url, logger }),
      intervalMs: 30_000,
      ticker: (ms, fn) => {
        expect(ms).toBe(30_000);
        tick = fn;
        return () => (cancelled = true);
      },
    });
    source.values.breakerOpen = 1;
    tick!();
    tick!(); // overlaps the first evaluation: skipped, so no second message
    await handle.stop();
    expect(cancelled).toBe(true);
    expect(hook.texts()).toEqual(['[tutorgate] WARNING breaker: the upstream circuit breaker is open.']);
  });

  // The state store of several instances, in memory: one rule held by one evaluation at a time.
  class FakeSharedState implements SharedAlertState {
    states = new Map<string, RuleState>();
    held = new Set<string>();
    async take(rule: string) {
      if (this.held.has(rule)) return undefined;
      this.held.add(rule);
      return {
        state: this.states.get(rule),
        save: async (st: RuleState) => void (st.firing ? this.states.set(rule, { ...st }) : this.states.delete(rule)),
        release: async () => void this.held.delete(rule),
      };
    }
  }

  it('shares the state of fleet-wide rules between instances, and keeps per-instance rules to each instance', async () => {
    const shared = new FakeSharedState();
    const sink = createAlertSink({ webhook: hook.url, logger });
    const rules: AlertRule[] = [costRule, { name: 'errors', metric: 'errorRatio', above: 0.1, cooldown: '15m' }];
    const [a, b] = ['a', 'b'].map((instance) => createAlertEvaluator({ rules, source, clock, sink, shared, instance }));
    source.values.costUsdPerHour = 30;
    source.values.errorRatio = 0.5;
    await a!.evaluate();
    await b!.evaluate();
    // The cost is the fleet's (one message); each instance's error ratio is its own condition.
    expect(hook.bodies.map((m) => `${m.alert.name} ${JSON.stringify((m.alert as { details?: { instance?: string } }).details?.instance)}`)).toEqual(['hourly-cost undefined', 'errors "a"', 'errors "b"']);
    expect(hook.texts().slice(1)).toEqual(['[tutorgate] WARNING errors: errorRatio is 50.0 % (above 10.0 %) on instance a.', '[tutorgate] WARNING errors: errorRatio is 50.0 % (above 10.0 %) on instance b.']);

    // A rule another instance is evaluating right now is skipped, not sent twice.
    source.values.costUsdPerHour = 2;
    shared.held.add('hourly-cost');
    await b!.evaluate();
    expect(hook.bodies).toHaveLength(3);
    shared.held.delete('hourly-cost');
    await b!.evaluate();
    await a!.evaluate();
    expect(hook.bodies.slice(3).map((m) => `${m.alert.name} ${m.alert.status}`)).toEqual(['hourly-cost resolved']);
  });

  it('a message refused by the webhook is tried again by whichever instance evaluates next', async () => {
    const shared = new FakeSharedState();
    const sink = createAlertSink({ webhook: hook.url, logger });
    const [a, b] = ['a', 'b'].map((instance) => createAlertEvaluator({ rules: [costRule], source, clock, sink, shared, instance }));
    source.values.costUsdPerHour = 30;
    hook.status = 503;
    await a!.evaluate();
    hook.status = 200;
    await b!.evaluate();
    await a!.evaluate();
    expect(hook.bodies.map((m) => m.alert.status)).toEqual(['firing']);
  });
});
