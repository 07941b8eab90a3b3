import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Fault } from '../../src/llm/simulator/types.js';
import { bearer } from '../helpers/test-app.js';
import { createSimulatedApp } from '../helpers/simulated-app.js';
import { expectLedgerMatchesCharges, expectLimitsMatchLedger } from './ledger-invariants.js';

// Every way the upstream can fail, through the real SDK over a real socket to the
// simulator: the learner still gets a 200 with the rules answer, and the money is right
// afterwards (one settled row per billed message, no pending rows, no held reservations).

type App = Awaited<ReturnType<typeof createSimulatedApp>>;

const GRADE = {
  criteria: [{ criterionId: 'correctness', levelId: 'correct', evidence: [], justification: 'Names evaporation.' }],
  feedback: { strengths: ['Clear.'], improve: ['Say where the vapour goes.'], nextStep: 'Explain the role of heat.' },
  confidence: 0.9,
};
const HIGH_LIMITS = { premium: { requestsPerMinute: 10_000, requestsPerHour: 100_000, tokensPerDay: 100_000_000, concurrent: 100 } };
const ATTEMPTS = 3; // maxRetries 2: a fault that lasts this many calls outlives every retry

let n = 0;
const nonce = Math.random().toString(36).slice(2, 8);
const gradeBody = () => ({ question: 'Why does a puddle disappear?', referenceAnswer: 'The water evaporates into the air.', answer: `The sun heats it and the water evaporates, take ${nonce}-${++n}.` });

describe('upstream faults: the rules answer, and exact metering', () => {
  let t: App;
  let key: string;

  beforeAll(async () => {
    t = await createSimulatedApp({
      policy: {
        limits: HIGH_LIMITS,
        // breaker kept out of the way here; it has its own test below
        llm: { timeoutMs: { grading: 500, learning_path: 1000 }, maxRetries: 2, breakerFailures: 1000 },
      },
    });
    key = await t.premium('fault-learner');
    t.sim.script.when('<student_answer>', { json: GRADE });
  });
  afterAll(() => t?.close());
  afterEach(() => t.sim.faults.clear());

  const grade = () => t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: gradeBody() });
  // learning paths are cached per user: a fresh learner is always a cache miss
  const path = async () => t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: bearer(await t.premium()), payload: {} });

  const gradingFaults: [string, Fault][] = [
    ['429 with retry-after', { kind: 'status', status: 429, retryAfterSec: 1 }],
    ['529 overloaded', { kind: 'status', status: 529 }],
    ['500 api error', { kind: 'status', status: 500 }],
    ['a hang past the 500 ms feature timeout', { kind: 'hang' }],
    ['a connection reset', { kind: 'reset' }],
    ['a malformed body', { kind: 'malformed' }],
    ['a body cut off mid-way', { kind: 'truncated-stream' }],
  ];

  for (const [name, fault] of gradingFaults) {
    it(`grading: ${name} on every attempt → 200 from rules, retried, nothing billed`, { timeout: 20_000 }, async () => {
      const before = t.sim.stats().messages;
      t.sim.faults.next(fault, ATTEMPTS);
      const r = await grade();
      expect(r.statusCode).toBe(200);
      const body = r.json();
      expect(body.source).toBe('rules');
      expect(['upstream_failure', 'invalid_output']).toContain(body.fallbackReason);
      expect(body.usage).toMatchObject({ inputTokens: 0, outputTokens: 0, costUsd: 0 });
      expect(typeof body.score).toBe('number');
      // the client retried up to its limit, and no more
      expect(t.sim.stats().messages - before).toBe(ATTEMPTS);
      await expectLedgerMatchesCharges(t.store.db, t.sim.charges);
    });
  }

  const pathFaults: [string, Fault][] = [
    ['a stream cut mid-answer', { kind: 'truncated-stream' }],
    ['an error event mid-stream', { kind: 'stream-error' }],
    ['a malformed event stream', { kind: 'malformed' }],
    ['529 before the stream starts', { kind: 'status', status: 529 }],
    ['a hang past the feature timeout', { kind: 'hang' }],
  ];

  for (const [name, fault] of pathFaults) {
    it(`learning path (streamed): ${name} on every attempt → 200 from rules`, { timeout: 20_000 }, async () => {
      t.sim.faults.next(fault, ATTEMPTS);
      const r = await path();
      expect(r.statusCode).toBe(200);
      const body = r.json();
      expect(body.source).toBe('rules');
      expect(['upstream_failure', 'invalid_output']).toContain(body.fallbackReason);
      expect(body.items.length).toBeGreaterThan(0);
      expect(body.usage.costUsd).toBe(0);
      await expectLedgerMatchesCharges(t.store.db, t.sim.charges);
    });
  }

  it('learning path: streams broken after message_start on every attempt → the rules answer; the learner\'s usage, the ledger and the budget carry what they reported', { timeout: 20_000 }, async () => {
    const learner = await t.premium();
    const first = t.sim.charges.length;
    t.sim.faults.next({ kind: 'truncated-stream' }, ATTEMPTS);
    const r = await t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: bearer(learner), payload: {} });
    // the answer is the rules', which reports zero usage (CONTRACT.md); what the call spent is in the books
    expect(r.json()).toMatchObject({ source: 'rules', fallbackReason: 'upstream_failure', usage: { inputTokens: 0, costUsd: 0 } });
    const broken = t.sim.charges.slice(first);
    expect(broken).toHaveLength(ATTEMPTS);
    expect(broken.every((c) => c.partial === true && c.inputTokens > 0)).toBe(true);

    const sum = (f: (c: (typeof broken)[number]) => number) => broken.reduce((n, c) => n + f(c), 0);
    const mine = (await t.app.inject({ method: 'GET', url: '/v1/usage/me', headers: bearer(learner) })).json();
    expect(mine.totals).toMatchObject({
      calls: 1,
      inputTokens: sum((c) => c.inputTokens),
      outputTokens: sum((c) => c.outputTokens),
      cacheReadTokens: sum((c) => c.cacheReadInputTokens),
      cacheWriteTokens: sum((c) => c.cacheCreationInputTokens),
    });
    const [row] = await t.store.db.selectFrom('usage_ledger').selectAll().where('user_id', '=', mine.userId).execute();
    expect(row).toMatchObject({ status: 'settled', source: 'rules', outcome: 'upstream_unavailable', message_id: null });
    // priced by the policy's price book for the feature's model, like any answer
    const priced = t.container.prices.cost(row!.model, {
      inputTokens: Number(row!.input_tokens),
      outputTokens: Number(row!.output_tokens),
      cacheWrite5mTokens: Number(row!.cache_write_5m_tokens),
      cacheWrite1hTokens: Number(row!.cache_write_1h_tokens),
      cacheReadTokens: Number(row!.cache_read_tokens),
    }, t.clock.now());
    expect(priced.costMicros).toBeGreaterThan(0);
    expect(Number(row!.cost_micros)).toBe(priced.costMicros);
    expect(mine.totals.costUsd).toBe(priced.costMicros / 1e6);
    // settled against the learner's monthly budget, not released as if nothing was spent
    const me = (await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(learner) })).json();
    expect(me.budget.spentUsd).toBe(priced.costMicros / 1e6);
    await expectLedgerMatchesCharges(t.store.db, t.sim.charges);
    // the token limit holds what the broken streams were billed, and no slot is left held
    expect(me.limits.learning_path.tokensPerDay.limit - me.limits.learning_path.tokensPerDay.remaining).toBeGreaterThan(0);
    await expectLimitsMatchLedger(t.store.db, me);
  });

  it('a transient fault is retried: the learner gets the LLM answer, and each attempt is billed once', { timeout: 20_000 }, async () => {
    for (const fault of [{ kind: 'status', status: 429, retryAfterMs: 50 }, { kind: 'status', status: 529 }, { kind: 'reset' }] as Fault[]) {
      const charges = t.sim.charges.length;
      t.sim.faults.next(fault, 1);
      const body = (await grade()).json();
      expect(body.source, JSON.stringify(fault)).toBe('llm');
      expect(t.sim.charges.length).toBe(charges + 1);
      expect(body.usage.costUsd).toBeGreaterThan(0);
    }
    t.sim.faults.next({ kind: 'stream-error' }, 1);
    const charges = t.sim.charges.length;
    const body = (await path()).json();
    expect(body.source).toBe('llm');
    // the attempt the error event broke is billed what its message_start reported, the retry in full
    const [broken, answer] = t.sim.charges.slice(charges);
    expect(t.sim.charges.length).toBe(charges + 2);
    expect([broken!.partial, answer!.partial]).toEqual([true, undefined]);
    expect(body.usage.inputTokens).toBe(broken!.inputTokens + answer!.inputTokens);
    expect(body.usage.outputTokens).toBe(broken!.outputTokens + answer!.outputTokens);
    await expectLedgerMatchesCharges(t.store.db, t.sim.charges);
  });

  it('after the whole run: one settled row per simulator answer, every billed token once, nothing pending, every reservation settled', async () => {
    expect(t.sim.charges.length).toBeGreaterThanOrEqual(4);
    const s = await expectLedgerMatchesCharges(t.store.db, t.sim.charges);
    expect(s.counters.length).toBeGreaterThanOrEqual(3);
    // the failed requests are in the ledger too, not lost: at zero cost, or at what their broken streams reported
    expect(s.rows.filter((r) => r.message_id === null).length).toBeGreaterThanOrEqual(gradingFaults.length + pathFaults.length);
    expect(s.rows.filter((r) => r.message_id === null && r.cost_micros > 0).length).toBeGreaterThanOrEqual(2);
    // limits too: every failed call gave back its slot and its token estimate, every answer kept its tokens
    const me = (await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(key) })).json();
    expect(me.limits.grading.tokensPerDay.limit - me.limits.grading.tokensPerDay.remaining).toBeGreaterThan(0);
    await expectLimitsMatchLedger(t.store.db, me);
  });
});

describe('the circuit breaker', () => {
  let t: App;
  let key: string;
  let admin: string;

  beforeAll(async () => {
    t = await createSimulatedApp({
      policy: { limits: HIGH_LIMITS, llm: { timeoutMs: { grading: 2000 }, maxRetries: 0, breakerFailures: 3, breakerOpenMs: 30_000 } },
    });
    key = await t.premium('breaker-learner');
    admin = await t.premium('breaker-admin', ['admin']);
    t.sim.script.when('<student_answer>', { json: GRADE });
  });
  afterAll(() => t?.close());

  const grade = () => t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: gradeBody() });
  const readyz = async () => (await t.app.inject({ method: 'GET', url: '/readyz' })).json();

  it('opens after repeated 529s; then premium requests answer from rules without reaching the upstream', { timeout: 30_000 }, async () => {
    expect((await readyz()).checks.anthropic).toMatchObject({ ok: true, breaker: 'closed' });
    t.sim.faults.rate({ kind: 'status', status: 529 }, 1);
    for (let i = 0; i < 3; i++) {
      const r = await grade();
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({ source: 'rules', fallbackReason: 'upstream_failure' });
    }
    const ready = await readyz();
    expect(ready.checks.anthropic).toMatchObject({ ok: false, breaker: 'open' });
    // the upstream being down does not make the instance unready: it still answers from rules
    expect(ready.status).toBe('ready');

    const calls = t.sim.stats().messages;
    for (let i = 0; i < 5; i++) {
      const r = await grade();
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({ source: 'rules', fallbackReason: 'circuit_open' });
    }
    expect(t.sim.stats().messages).toBe(calls);

    const ops = (await t.app.inject({ method: 'GET', url: '/v1/admin/ops', headers: bearer(admin) })).json();
    expect(ops.llm.breaker).toBe('open');
    await expectLedgerMatchesCharges(t.store.db, t.sim.charges);
  });

  it('half-opens after openMs and closes on a successful probe', { timeout: 30_000 }, async () => {
    t.sim.faults.clear();
    t.clock.advance(30_000);
    const r = await grade();
    expect(r.json().source).toBe('llm');
    expect((await readyz()).checks.anthropic).toMatchObject({ ok: true, breaker: 'closed' });
    await expectLedgerMatchesCharges(t.store.db, t.sim.charges);
  });
});

describe("feature isolation: grading's upstream hanging", () => {
  let t: App;

  beforeAll(async () => {
    t = await createSimulatedApp({
      policy: {
        limits: HIGH_LIMITS,
        // Two LLM calls at a time; grading's attempts outlive the 5 s queue wait of a call
        // that would be queued behind them. Breaker out of the way: it is per model anyway.
        llm: { timeoutMs: { grading: 8_000 }, maxRetries: 0, maxInFlight: 2, breakerFailures: 1000 },
      },
    });
    // Every grading prompt hangs upstream; learning-path prompts are answered.
    t.sim.script.when('<student_answer>', { fault: { kind: 'hang' } });
  });
  afterAll(() => t?.close());

  const path = async () => t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: bearer(await t.premium()), payload: {} });

  it('grading calls filling every LLM slot do not queue learning paths behind them: the path is answered by the LLM while the grades still hang', { timeout: 30_000 }, async () => {
    expect((await path()).json().source).toBe('llm');
    const key = await t.premium('iso-hang-grader');
    const before = t.sim.stats().messages;
    let gradesDone = 0;
    const grades = Array.from({ length: 3 }, () =>
      t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: gradeBody() }).finally(() => void gradesDone++),
    );
    // two grading calls are hanging upstream: every slot a shared gate would have is taken
    await vi.waitFor(() => expect(t.sim.stats().messages - before).toBe(2), { timeout: 5_000 });

    const p = await path();
    expect(p.statusCode).toBe(200);
    expect(p.json(), `learning path fell back: ${p.json().fallbackReason}`).toMatchObject({ source: 'llm' });
    // answered while grading was still stuck, not after a grading slot freed up
    expect(gradesDone).toBe(0);

    const graded = await Promise.all(grades);
    for (const g of graded) {
      expect(g.statusCode).toBe(200);
      expect(g.json()).toMatchObject({ source: 'rules' });
    }
    await expectLedgerMatchesCharges(t.store.db, t.sim.charges);
  });
});
