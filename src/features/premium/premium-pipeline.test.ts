import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../platform/policy.js';
import { RateLimitedError } from '../../platform/errors.js';
import type { AnthropicClient, LlmCallRecord, StructuredRequest } from '../../llm/client/types.js';
import { createCacheManager } from '../cache/cache-manager.js';
import type { Principal } from '../identity/identity.types.js';
import { createMemoryRateLimiter } from '../limits/memory-rate-limiter.js';
import type { RateLimiter } from '../limits/limit-types.js';
import { limitKeyFor } from './limit-spec.js';
import type { MeteringService, Reservation } from '../usage/metering.service.js';
import { DeferredWork } from '../../platform/deferred-work.js';
import { PremiumPipeline } from './premium-pipeline.js';
import type { PremiumTask } from './premium.types.js';

const usage = { inputTokens: 100, outputTokens: 20, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, cacheReadTokens: 0 };

// Hand-written fakes: an LLM that counts its calls, metering that counts settlements.
function fakeLlm() {
  const calls: string[] = [];
  const llm: Pick<AnthropicClient, 'structured' | 'available' | 'modelFor' | 'breakerState'> = {
    available: () => true,
    breakerState: () => 'closed',
    modelFor: () => 'claude-haiku-4-5',
    async structured<T>(req: StructuredRequest<T>) {
      calls.push(req.user);
      const record: LlmCallRecord = { feature: req.feature, model: 'claude-haiku-4-5', messageId: `msg_${calls.length}`, attempts: 1, retries: 0, latencyMs: 1, usage, outcome: 'ok' };
      const parsed = req.parse({ answer: `graded: ${req.user}` });
      if (!parsed.ok) throw new Error('fake answer invalid');
      return { value: parsed.value, calls: [record], model: 'claude-haiku-4-5' };
    },
  };
  return { llm, calls };
}

function fakeMetering() {
  const settled: string[] = [];
  const metering: Pick<MeteringService, 'reserve' | 'price' | 'settlePriced'> = {
    async reserve(p) {
      const reservation: Reservation = { id: `r_${p.userId}`, userId: p.userId, feature: p.feature, model: p.model, reservedMicros: p.worstCaseMicros, keys: [], createdAt: 0 };
      return { ok: true, reservation };
    },
    price(calls) {
      const summary = { inputTokens: calls.length * 100, outputTokens: calls.length * 20, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: calls.length * 0.0002 };
      return { at: 0, priced: [], total: calls.length * 200, summary };
    },
    async settlePriced(r) {
      settled.push(r.userId);
    },
  };
  return { metering, settled };
}

const principal = (userId: string, tier: 'free' | 'premium' = 'premium'): Principal => ({ userId, roles: ['learner'], tier, entitlements: tier === 'premium' ? ['grading', 'learning_path'] : [], via: 'api_key' });

function task(p: Principal, answer: string): PremiumTask<string> {
  return {
    feature: 'grading',
    principal: p,
    rules: () => `rules: ${answer}`,
    cache: { scope: 'shared', inputs: { answer }, tags: ['feature:grading'] },
    llm: {
      template: { id: 't', version: 1 },
      prompt: () => ({ system: [{ text: 'Grade.' }], user: answer, schema: { type: 'object' } }),
      parse: (raw) => ({ ok: true, value: (raw as { answer: string }).answer }),
      maxTokens: 100,
    },
  };
}

function build(opts: { limiter?: RateLimiter; flagsOn?: boolean; variant?: string; llm?: ReturnType<typeof fakeLlm>; reserve?: MeteringService['reserve']; decisions?: { allowed: boolean; violated?: string }[] } = {}) {
  const { llm, calls } = opts.llm ?? fakeLlm();
  const { metering, settled } = fakeMetering();
  if (opts.reserve) metering.reserve = opts.reserve;
  const deferred = new DeferredWork((err) => {
    throw err;
  });
  const pipeline = new PremiumPipeline({
    policy: parsePolicy(undefined),
    clock: { now: () => Date.parse('2026-11-27T12:00:00Z') },
    flags: { evaluate: (key) => ({ key, enabled: opts.flagsOn ?? true, reason: 'STATIC', rolloutInForce: 100, bucket: 0, ...(opts.variant ? { variant: opts.variant } : {}) }) },
    limiter: opts.limiter ?? createMemoryRateLimiter(),
    cache: createCacheManager(),
    llm,
    inputTokens: { estimate: async () => 50 },
    metering,
    deferred,
    prices: { worstCaseMicros: () => 1000 },
    overrides: async () => undefined,
    ...(opts.decisions ? { onLimitDecision: (_p: Principal, _f: string, d: { allowed: boolean; violated?: string }) => void opts.decisions!.push(d) } : {}),
  });
  return { pipeline, calls, settled, deferred };
}

describe('PremiumPipeline', () => {
  it('answers from the LLM once, then from the cache at zero cost, for anyone', async () => {
    const { pipeline, calls, settled, deferred } = build();
    const first = await pipeline.run(task(principal('a'), 'evaporates'));
    expect(first).toMatchObject({ source: 'llm', value: 'graded: evaporates' });
    expect(first.usage.costUsd).toBeGreaterThan(0);
    expect(settled).toEqual([]); // the books are written after the answer
    await deferred.drain();
    expect(settled).toEqual(['a']);
    const second = await pipeline.run(task(principal('b'), 'evaporates'));
    expect(second).toMatchObject({ source: 'cache', value: 'graded: evaporates', usage: { costUsd: 0 } });
    expect(calls).toHaveLength(1);
    await deferred.drain();
    expect(settled).toEqual(['a']);
  });

  it("keeps an experiment arm on every answer: a rules answer after the arm's call could not be made still names it", async () => {
    const down = fakeLlm();
    down.llm.available = () => false;
    const { pipeline } = build({ variant: 'llm', llm: down });
    expect(await pipeline.run(task(principal('arm-a'), 'x'))).toMatchObject({ source: 'rules', fallbackReason: 'no_api_key', flagVariant: 'llm' });
    const { pipeline: up } = build({ variant: 'llm' });
    expect(await up.run(task(principal('arm-b'), 'y'))).toMatchObject({ source: 'llm', flagVariant: 'llm' });
    expect(await up.run(task(principal('arm-c'), 'y'))).toMatchObject({ source: 'cache', flagVariant: 'llm' });
    const { pipeline: control } = build({ variant: 'control' });
    expect(await control.run(task(principal('arm-d'), 'z'))).toMatchObject({ source: 'rules', fallbackReason: 'experiment_control', flagVariant: 'control' });
  });

  it('gives the rules answer without calling upstream when not entitled or when the flag is off', async () => {
    const free = build();
    expect(await free.pipeline.run(task(principal('f', 'free'), 'x'))).toMatchObject({ source: 'rules', value: 'rules: x', fallbackReason: 'not_entitled' });
    const off = build({ flagsOn: false });
    expect(await off.pipeline.run(task(principal('p'), 'x'))).toMatchObject({ source: 'rules', fallbackReason: 'flag_off' });
    expect(free.calls.length + off.calls.length).toBe(0);
  });

  it('a refused budget answers from the rules with a notice naming that budget, and makes no call', async () => {
    const named: [string, string][] = [
      ['user:a:2026-11', 'monthly user'],
      ['feature:grading:2026-11-27', 'daily grading feature'],
      ['global:2026-11-27', 'daily global'],
    ];
    for (const [refusedKey, name] of named) {
      const { pipeline, calls, settled, deferred } = build({ reserve: async () => ({ ok: false, refusedKey }) });
      const out = await pipeline.run(task(principal('a'), `budget ${refusedKey}`));
      expect(out).toMatchObject({ source: 'rules', fallbackReason: 'budget_exhausted', usage: { costUsd: 0 } });
      expect(out.notices).toEqual([`The ${name} budget is spent; this answer comes from the rules engine.`]);
      await deferred.drain();
      expect({ calls, settled }).toEqual({ calls: [], settled: [] });
    }
  });

  it('does the task\'s waiting work while the upstream call is in flight, and only when a call is made', async () => {
    const fake = fakeLlm();
    let answer!: () => void;
    const upstream = new Promise<void>((r) => (answer = r));
    const structured = fake.llm.structured.bind(fake.llm);
    fake.llm.structured = async (req) => {
      await upstream;
      return structured(req);
    };
    const { pipeline } = build({ llm: fake });
    const waited: string[] = [];
    const withWork = (p: Principal) => ({ ...task(p, 'condenses'), whileWaiting: () => void waited.push(p.userId) });
    const first = pipeline.run(withWork(principal('a')));
    await new Promise((r) => setTimeout(r, 5));
    expect(waited).toEqual(['a']); // the answer has not come yet
    answer();
    expect(await first).toMatchObject({ source: 'llm' });
    expect(await pipeline.run(withWork(principal('b')))).toMatchObject({ source: 'cache' });
    await new Promise((r) => setTimeout(r, 5));
    expect(waited).toEqual(['a']);
  });

  // A limiter that refuses user a's concurrency slot once `release()` is called (so that
  // others can join a's flight first), and the listed users' slots at once.
  function refusingSlots(refused: string[]): { limiter: RateLimiter; release: () => void } {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const memory = createMemoryRateLimiter();
    const limiter: RateLimiter = {
      ...memory,
      hitRequest: (k, s) => memory.hitRequest(k, s),
      reserveTokens: (k, s, e) => memory.reserveTokens(k, s, e),
      peek: (k, s) => memory.peek(k, s),
      async acquireSlot(key, limit) {
        if (key === limitKeyFor('premium', 'grading', 'a')) await gate;
        if (key === limitKeyFor('premium', 'grading', 'a') || refused.some((u) => key === limitKeyFor('premium', 'grading', u))) return { allowed: false, release: async () => {} };
        return memory.acquireSlot(key, limit);
      },
    };
    return { limiter, release };
  }

  it("never answers a waiting user with another user's rate-limit refusal", async () => {
    // User a's concurrency slot is refused only once b is waiting on the same cache key.
    const { limiter, release } = refusingSlots([]);
    const { pipeline, calls } = build({ limiter });
    const a = pipeline.run(task(principal('a'), 'shared answer'));
    await new Promise((r) => setTimeout(r, 5)); // a now leads the single flight
    const b = pipeline.run(task(principal('b'), 'shared answer'));
    await new Promise((r) => setTimeout(r, 5)); // b is waiting on a's flight
    release();
    await expect(a).rejects.toBeInstanceOf(RateLimitedError);
    expect(await b).toMatchObject({ source: 'llm', value: 'graded: shared answer' });
    expect(calls).toEqual(['shared answer']);
  });

  it("never answers a waiting user with a refusal of the user whose retry it joined", async () => {
    // a leads and is refused; b and c, waiting on a's flight, each try again. b's retry leads
    // a new flight and c joins it; b is over its own concurrency limit, c is not.
    const { limiter, release } = refusingSlots(['b']);
    const { pipeline, calls } = build({ limiter });
    const a = pipeline.run(task(principal('a'), 'shared answer'));
    await new Promise((r) => setTimeout(r, 5)); // a now leads the single flight
    const b = pipeline.run(task(principal('b'), 'shared answer'));
    const c = pipeline.run(task(principal('c'), 'shared answer'));
    await new Promise((r) => setTimeout(r, 5)); // b and c are waiting on a's flight
    release();
    await expect(a).rejects.toBeInstanceOf(RateLimitedError);
    await expect(b).rejects.toBeInstanceOf(RateLimitedError);
    expect(await c).toMatchObject({ source: 'llm', value: 'graded: shared answer' });
    expect(calls).toEqual(['shared answer']);
  });

  describe('admission before the feature does its work', () => {
    // A limiter that counts request-rate decisions, with 2 requests a minute for free users.
    function counting() {
      const memory = createMemoryRateLimiter();
      const hits: string[] = [];
      const limiter: RateLimiter = { ...memory, hitRequest: (k, s) => (hits.push(k), memory.hitRequest(k, { ...s, requestsPerMinute: 2 })) };
      return { limiter, hits };
    }

    it('refuses with a 429 once over the limit, and an admitted task is not counted twice', async () => {
      const { limiter, hits } = counting();
      const { pipeline } = build({ limiter });
      const p = principal('f', 'free');
      const admitted = await pipeline.admit(p, 'grading');
      // the first of 2 requests a minute: one left, and the policy says so
      expect(admitted.headers).toMatchObject({ 'RateLimit-Policy': expect.stringContaining('q=2;w=60'), RateLimit: expect.stringMatching(/;r=1;t=\d+$/) });
      expect(await pipeline.run(task(p, 'x'), admitted)).toMatchObject({ source: 'rules', fallbackReason: 'not_entitled', headers: admitted.headers });
      expect(hits).toEqual([limitKeyFor('free', 'grading', 'f')]);
      await pipeline.admit(p, 'grading');
      await expect(pipeline.admit(p, 'grading')).rejects.toBeInstanceOf(RateLimitedError);
      expect(hits).toHaveLength(3);
    });

    it('will not run a task on an admission given to another principal or feature', async () => {
      const { pipeline, calls } = build();
      const admitted = await pipeline.admit(principal('a'), 'learning_path');
      await expect(pipeline.run(task(principal('a'), 'x'), admitted)).rejects.toThrow(/admission for learning_path used for grading/);
      const forA = await pipeline.admit(principal('a'), 'grading');
      await expect(pipeline.run(task(principal('b'), 'x'), forA)).rejects.toThrow(/another principal/);
      expect(calls).toEqual([]);
    });
  });

  describe('concurrency slot and token reservation, asked for together', () => {
    // A limiter whose slot or token answers are scripted, recording what is given back.
    function scripted(o: { slot: boolean; tokens: boolean; settleFails?: boolean }) {
      const log: string[] = [];
      const memory = createMemoryRateLimiter();
      const limiter: RateLimiter = {
        ...memory,
        hitRequest: (k, s) => memory.hitRequest(k, s),
        peek: (k, s) => memory.peek(k, s),
        async acquireSlot() {
          return { allowed: o.slot, release: async () => void log.push('slot released') };
        },
        async reserveTokens() {
          return {
            allowed: o.tokens,
            retryAfterSec: 60,
            headers: {},
            release: async () => void log.push('tokens released'),
            settle: async () => {
              if (o.settleFails) throw new Error('limiter backend down');
              log.push('tokens settled');
            },
          } as Awaited<ReturnType<RateLimiter['reserveTokens']>>;
        },
      };
      return { limiter, log };
    }

    it('gives the tokens back when the slot is refused, and calls nobody', async () => {
      const { limiter, log } = scripted({ slot: false, tokens: true });
      const decisions: { allowed: boolean; violated?: string }[] = [];
      const { pipeline, calls } = build({ limiter, decisions });
      await expect(pipeline.run(task(principal('a'), 'x'))).rejects.toThrow(/"concurrent"/);
      expect(log).toEqual(['tokens released']);
      expect(calls).toEqual([]);
      // the request window let it in; the concurrency limit refused it, and metrics hear both
      expect(decisions).toEqual([{ allowed: true, retryAfterSec: 0, headers: expect.any(Object) }, { allowed: false, violated: 'concurrent' }]);
    });

    it('gives the slot back when the tokens are refused', async () => {
      const { limiter, log } = scripted({ slot: true, tokens: false });
      const { pipeline, calls } = build({ limiter });
      await expect(pipeline.run(task(principal('a'), 'x'))).rejects.toThrow(/"tokensPerDay"/);
      expect(log).toEqual(['slot released']);
      expect(calls).toEqual([]);
    });

    it('settles the tokens and frees the slot after the call', async () => {
      const { limiter, log } = scripted({ slot: true, tokens: true });
      const { pipeline } = build({ limiter });
      expect(await pipeline.run(task(principal('a'), 'x'))).toMatchObject({ source: 'llm' });
      expect([...log].sort()).toEqual(['slot released', 'tokens settled']);
    });

    it('gives the tokens and the slot back when the store fails before the call', async () => {
      const { limiter, log } = scripted({ slot: true, tokens: true });
      const down = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      const { pipeline, calls } = build({ limiter, reserve: async () => Promise.reject(down) });
      await expect(pipeline.run(task(principal('a'), 'x'))).rejects.toBe(down);
      expect([...log].sort()).toEqual(['slot released', 'tokens released']);
      expect(calls).toEqual([]);
    });

    it("answers a refusal after admission with the request window's rate-limit headers", async () => {
      for (const o of [{ slot: false, tokens: true }, { slot: true, tokens: false }]) {
        const { pipeline } = build({ limiter: scripted(o).limiter });
        const err = (await pipeline.run(task(principal('a'), 'x')).catch((e: unknown) => e)) as RateLimitedError;
        expect(err).toBeInstanceOf(RateLimitedError);
        expect(Object.keys(err.headers ?? {}).map((h) => h.toLowerCase()).sort()).toEqual(['ratelimit', 'ratelimit-policy', 'retry-after']);
      }
    });

    it('hold the worst case of every attempt that can be billed: for a streamed task, each retry too', async () => {
      // default policy: maxRetries 2; the task: maxCalls 2 by default, 50 input tokens, max_tokens 100
      for (const [stream, attempts] of [[false, 2], [true, 2 * 3]] as const) {
        const held: number[] = [];
        const { limiter } = scripted({ slot: true, tokens: true });
        const reserveTokens = limiter.reserveTokens;
        limiter.reserveTokens = (k, s, estimate) => (held.push(estimate), reserveTokens(k, s, estimate));
        const reserved: number[] = [];
        const reserve: MeteringService['reserve'] = async (p) => (reserved.push(p.worstCaseMicros), fakeMetering().metering.reserve(p));
        const { pipeline } = build({ limiter, reserve });
        const t = task(principal(`held-${stream}`), 'x');
        expect(await pipeline.run({ ...t, llm: { ...t.llm, stream } })).toMatchObject({ source: 'llm' });
        expect({ stream, held, reserved }).toEqual({ stream, held: [(50 + 100) * attempts], reserved: [1000 * attempts] });
      }
    });

    it('still answers when the token settlement fails after a paid call', async () => {
      const { limiter, log } = scripted({ slot: true, tokens: true, settleFails: true });
      const { pipeline, settled, deferred } = build({ limiter });
      expect(await pipeline.run(task(principal('a'), 'x'))).toMatchObject({ source: 'llm', value: 'graded: x' });
      await deferred.drain();
      expect(settled).toEqual(['a']);
      expect(log).toEqual(['slot released']);
    });
  });
});
