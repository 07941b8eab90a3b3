// The client against the Messages API simulator, over a real socket, with the real SDK.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../simulator/index.js';
import { createAnthropicClient } from './anthropic-client.js';
import { createHttpFetch } from './http-transport.js';
import { LlmError } from './llm-error.js';
import type { AnthropicClientConfig, BatchResultItem, LlmCallRecord, StructuredRequest } from './types.js';

const KEY = 'sk-ant-.api03-SIMTESTKEY-aaaabbbbccccddddeeeeffff-9f2c';

interface Verdict {
  score: number;
  feedback: string;
}

const schema = {
  type: 'object',
  properties: { score: { type: 'integer', minimum: 0, maximum: 10 }, feedback: { type: 'string' } },
  required: ['score', 'feedback'],
  additionalProperties: false,
};

function parseVerdict(raw: unknown): { ok: true; value: Verdict } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const o = raw as Partial<Verdict> | null;
  if (typeof o !== 'object' || o === null) return { ok: false, problems: ['answer is not an object'] };
  if (!Number.isInteger(o.score) || o.score! < 0 || o.score! > 10) problems.push('score must be an integer 0..10');
  if (typeof o.feedback !== 'string' || o.feedback.length === 0) problems.push('feedback must be a non-empty string');
  return problems.length ? { ok: false, problems } : { ok: true, value: o as Verdict };
}

function request(over: Partial<StructuredRequest<Verdict>> = {}): StructuredRequest<Verdict> {
  return {
    feature: 'grading',
    system: [{ text: 'You grade short answers. '.repeat(300), cache: '5m' }, { text: 'Answer as JSON.' }],
    user: 'Question: what is 2+2? Answer: 4',
    schema,
    parse: parseVerdict,
    maxTokens: 400,
    ...over,
  };
}

let sim: Simulator;
let logs: Array<[string, object, string | undefined]>;
let records: LlmCallRecord[];
let waits: number[];
let clock: number;

function client(over: Partial<AnthropicClientConfig> = {}) {
  return createAnthropicClient({
    apiKey: KEY,
    baseURL: sim.url,
    models: { default: 'claude-haiku-5-5', grading: 'claude-sonnet-5-5' },
    timeoutsMs: { default: 5_000 },
    retry: { maxRetries: 3, maxTotalMs: 60_000, baseDelayMs: 200 },
    breaker: { failureThreshold: 3, openMs: 10_000, halfOpenProbes: 1 },
    concurrency: { maxInFlight: 8, maxQueued: 8, queueTimeoutMs: 2_000 },
    onCall: (r) => records.push(r),
    logger: {
      warn: (o, m) => logs.push(['warn', o, m]),
      error: (o, m) => logs.push(['error', o, m]),
    },
    // Waits are recorded, not slept: assertions about backoff need no wall-clock timing.
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...over,
  });
}

async function failure(p: Promise<unknown>): Promise<LlmError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(LlmError);
    return e as LlmError;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  sim = await startSimulator({ apiKey: KEY, latencyMs: 0 });
});
afterAll(async () => {
  await sim.close();
});
beforeEach(() => {
  sim.reset();
  logs = [];
  records = [];
  waits = [];
  clock = 1_000_000;
});

describe('structured calls', () => {
  it('returns the parsed value and a call record whose usage equals what the upstream charged', async () => {
    sim.script.enqueue({ json: { score: 9, feedback: 'Correct.' } });
    const res = await client().structured(request());
    expect(res.value).toEqual({ score: 9, feedback: 'Correct.' });
    expect(res.model).toBe('claude-sonnet-5-5');
    expect(res.calls).toHaveLength(1);
    const [rec] = res.calls;
    const [charge] = sim.charges;
    expect(rec).toMatchObject({ feature: 'grading', model: 'claude-sonnet-5-5', outcome: 'ok', attempts: 1, retries: 0, messageId: charge!.id, requestId: charge!.requestId });
    expect(rec!.usage.inputTokens).toBe(charge!.inputTokens);
    expect(rec!.usage.outputTokens).toBe(charge!.outputTokens);
    expect(rec!.usage.cacheWrite5mTokens + rec!.usage.cacheWrite1hTokens).toBe(charge!.cacheCreationInputTokens);
    expect(rec!.usage.cacheReadTokens).toBe(charge!.cacheReadInputTokens);
    expect(records).toEqual(res.calls);

    // What went over the wire: structured outputs, a cache breakpoint on the static prefix, no sampling knobs.
    const body = sim.requests.find((r) => r.path === '/v1/messages')!.body as Record<string, any>;
    // The schema as the API accepts it: the bounds it would refuse (a 400) moved into the description.
    expect(body.output_config).toEqual({
      format: {
        type: 'json_schema',
        schema: {
          type: 'object',
          properties: { score: { type: 'integer', description: '{minimum: 0, maximum: 10}' }, feedback: { type: 'string' } },
          required: ['score', 'feedback'],
          additionalProperties: false,
        },
      },
    });
    expect(body.system[0].cache_control).toEqual({ type: 'ephemeral', ttl: '5m' });
    expect(body.system[1].cache_control).toBeUndefined();
    expect(body).not.toHaveProperty('temperature');
    expect(body).not.toHaveProperty('tool_choice');
  });

  it('a repeated static prefix is read from the prompt cache, and the record says so', async () => {
    const c = client();
    await c.structured(request());
    const second = await c.structured(request({ user: 'Question: capital of France? Answer: Paris' }));
    expect(sim.charges[1]!.cacheReadInputTokens).toBeGreaterThan(0);
    expect(second.calls[0]!.usage.cacheReadTokens).toBe(sim.charges[1]!.cacheReadInputTokens);
  });

  it('a streamed call takes its usage from the final cumulative message_delta, equal to the charge', async () => {
    sim.script.enqueue({ json: { score: 3, feedback: 'Partly right.' } });
    const res = await client().structured(request({ stream: true }));
    expect(res.value).toEqual({ score: 3, feedback: 'Partly right.' });
    expect(sim.stats().streamed).toBe(1);
    const [charge] = sim.charges;
    expect(res.calls[0]).toMatchObject({ outcome: 'ok', streamed: true, requestId: charge!.requestId, messageId: charge!.id });
    expect(res.calls[0]!.usage).toMatchObject({ inputTokens: charge!.inputTokens, outputTokens: charge!.outputTokens, cacheReadTokens: charge!.cacheReadInputTokens });
  });

  it('repairs one invalid answer by sending the problems back, and records both calls', async () => {
    sim.script.enqueue({ text: '{"score": 42, "feedback": ""}' });
    sim.script.enqueue({ json: { score: 7, feedback: 'Fixed.' } });
    const res = await client().structured(request());
    expect(res.value).toEqual({ score: 7, feedback: 'Fixed.' });
    expect(res.calls.map((c) => c.outcome)).toEqual(['upstream_invalid_output', 'ok']);
    expect(res.calls[1]!.repair).toBe(true);
    expect(sim.charges).toHaveLength(2);
    const repairBody = sim.requests.filter((r) => r.path === '/v1/messages')[1]!.body as { messages: Array<{ role: string; content: string }> };
    expect(repairBody.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(repairBody.messages[1]!.content).toBe('{"score": 42, "feedback": ""}');
    expect(repairBody.messages[2]!.content).toContain('score must be an integer 0..10');
  });

  it('repairs an answer that is not JSON at all', async () => {
    sim.script.enqueue({ text: 'Sure! The score is 7.' });
    sim.script.enqueue({ json: { score: 7, feedback: 'ok' } });
    const res = await client().structured(request());
    expect(res.value.score).toBe(7);
    const repairBody = sim.requests.filter((r) => r.path === '/v1/messages')[1]!.body as { messages: Array<{ content: string }> };
    expect(repairBody.messages[2]!.content).toContain('not valid JSON');
  });

  it.each([
    ['empty', ''],
    ['whitespace-only', ' \n '],
  ])('repairs an %s answer with a placeholder turn the API accepts (it refuses empty and blank text)', async (_name, text) => {
    sim.script.enqueue({ text });
    sim.script.enqueue({ json: { score: 6, feedback: 'ok' } });
    const res = await client().structured(request());
    expect(res.value.score).toBe(6);
    expect(res.calls.map((c) => c.outcome)).toEqual(['upstream_invalid_output', 'ok']);
    expect(sim.stats().invalid).toBe(0);
    const repairBody = sim.requests.filter((r) => r.path === '/v1/messages')[1]!.body as { messages: Array<{ role: string; content: string }> };
    expect(repairBody.messages[1]).toEqual({ role: 'assistant', content: '(empty answer)' });
  });

  it('gives up with upstream_invalid_output after one failed repair, and still reports both calls for metering', async () => {
    sim.script.enqueue({ text: 'not json' });
    sim.script.enqueue({ text: '{"score": -1, "feedback": "x"}' });
    const err = await failure(client().structured(request()));
    expect(err.code).toBe('upstream_invalid_output');
    expect(err.problems).toEqual(['score must be an integer 0..10']);
    expect(err.calls).toHaveLength(2);
    expect(err.calls.reduce((n, c) => n + c.usage.outputTokens, 0)).toBe(sim.charges.reduce((n, c) => n + c.outputTokens, 0));
    expect(sim.stats().messages).toBe(2);
  });

  it('a refusal is its own outcome and is not repaired', async () => {
    sim.script.enqueue({ text: '', stopReason: 'refusal' });
    const err = await failure(client().structured(request()));
    expect(err.code).toBe('upstream_refused');
    expect(err.calls).toHaveLength(1);
    expect(err.calls[0]!.usage.inputTokens).toBe(sim.charges[0]!.inputTokens);
    expect(sim.stats().messages).toBe(1);
  });

  it('max_tokens is upstream_truncated and is not repaired', async () => {
    sim.script.enqueue({ text: '{"score": 5, "feedb', stopReason: 'max_tokens' });
    const err = await failure(client().structured(request()));
    expect(err.code).toBe('upstream_truncated');
    expect(err.calls[0]).toMatchObject({ outcome: 'upstream_truncated', stopReason: 'max_tokens' });
    expect(err.message).toMatch(/hit max_tokens \(\d+\)/);
    expect(sim.stats().messages).toBe(1);
  });

  it("an answer cut by the model's context window is upstream_truncated, and says so rather than blaming max_tokens", async () => {
    sim.script.enqueue({ text: '{"score": 5, "feedb', stopReason: 'model_context_window_exceeded' });
    const err = await failure(client().structured(request()));
    expect(err.code).toBe('upstream_truncated');
    expect(err.message).toContain("filled the model's context window");
    expect(err.message).not.toContain('max_tokens');
    expect(sim.stats().messages).toBe(1);
  });
});

describe('retries', () => {
  it('retries two 529s and succeeds: one result, one record with retries === 2', async () => {
    sim.faults.next({ kind: 'status', status: 529 }, 2);
    sim.script.enqueue({ json: { score: 1, feedback: 'ok' } });
    const res = await client().structured(request());
    expect(res.calls).toHaveLength(1);
    expect(res.calls[0]).toMatchObject({ outcome: 'ok', attempts: 3, retries: 2 });
    expect(waits).toHaveLength(2);
    // Exponential backoff with jitter in [50%, 100%] of 200 ms, then of 400 ms.
    expect(waits[0]).toBeGreaterThanOrEqual(100);
    expect(waits[0]).toBeLessThanOrEqual(200);
    expect(waits[1]).toBeGreaterThanOrEqual(200);
    expect(waits[1]).toBeLessThanOrEqual(400);
  });

  it('honours retry-after-ms on a 429', async () => {
    sim.faults.next({ kind: 'status', status: 429, retryAfterMs: 1234 });
    const res = await client().structured(request());
    expect(res.calls[0]!.retries).toBe(1);
    expect(waits).toEqual([1234]);
  });

  it('honours retry-after in seconds', async () => {
    sim.faults.next({ kind: 'status', status: 429, retryAfterSec: 2 });
    await client().structured(request());
    expect(waits).toEqual([2000]);
  });

  it("waits the retry-after a plain rate-limit 429 carries, as the API's do; backs off by itself when a 429 has none", async () => {
    sim.faults.next({ kind: 'status', status: 429 });
    expect((await client().structured(request())).calls[0]).toMatchObject({ outcome: 'ok', attempts: 2 });
    expect(waits).toEqual([1000]);
    waits.length = 0;
    sim.faults.next({ kind: 'status', status: 429, retryAfterSec: null });
    expect((await client().structured(request())).calls[0]).toMatchObject({ outcome: 'ok', attempts: 2 });
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(100); // jittered 200 ms base
    expect(waits[0]).toBeLessThanOrEqual(200);
  });

  it('gives up at once when the server asks for a wait beyond the total budget', async () => {
    sim.faults.next({ kind: 'status', status: 429, retryAfterSec: 120 });
    const err = await failure(client({ retry: { maxRetries: 3, maxTotalMs: 10_000, baseDelayMs: 200 } }).structured(request()));
    expect(err.code).toBe('upstream_rate_limited');
    expect(err.status).toBe(429);
    expect(err.retryable).toBe(true);
    expect(waits).toEqual([]);
    expect(sim.stats().messages).toBe(1);
  });

  it('a retry-after that leaves no room for a useful attempt ends the call with the 429, not a timeout', async () => {
    // The clock moves with each wait, as it would in real time.
    const sleep = async (ms: number) => {
      waits.push(ms);
      clock += ms;
    };
    const c = client({ now: () => clock, sleep, retry: { maxRetries: 3, maxTotalMs: 10_000, baseDelayMs: 200 }, breaker: { failureThreshold: 100, openMs: 1000, halfOpenProbes: 1 } });
    // 9.5 s of the 10 s budget leaves 0.5 s, under the 1 s minimum attempt: no wait, no retry.
    sim.faults.next({ kind: 'status', status: 429, retryAfterMs: 9_500 });
    const err = await failure(c.structured(request()));
    expect(err).toMatchObject({ code: 'upstream_rate_limited', status: 429, retryable: true, attempts: 1 });
    expect(waits).toEqual([]);
    expect(sim.stats().messages).toBe(1);

    // 8 s leaves 2 s: worth the wait, and the retry succeeds.
    sim.faults.next({ kind: 'status', status: 429, retryAfterMs: 8_000 });
    expect((await c.structured(request())).calls[0]).toMatchObject({ outcome: 'ok', attempts: 2 });
    expect(waits).toEqual([8_000]);
  });

  it('a wait that overran the budget gives up with the error that caused it, without a doomed attempt', async () => {
    const c = client({
      now: () => clock,
      // The timer fired 1.5 s late: 8 + 1.5 of the 10 s are gone, 0.5 s is left.
      sleep: async (ms) => {
        waits.push(ms);
        clock += ms + 1_500;
      },
      retry: { maxRetries: 3, maxTotalMs: 10_000, baseDelayMs: 200 },
    });
    sim.faults.next({ kind: 'status', status: 429, retryAfterMs: 8_000 });
    const err = await failure(c.structured(request()));
    expect(err).toMatchObject({ code: 'upstream_rate_limited', status: 429, attempts: 1 });
    expect(waits).toEqual([8_000]);
    expect(sim.stats().messages).toBe(1);
  });

  it('stops after maxRetries with the last error, all attempts in one record', async () => {
    sim.faults.next({ kind: 'status', status: 500 }, 10);
    const err = await failure(client({ retry: { maxRetries: 2, maxTotalMs: 60_000, baseDelayMs: 10 }, breaker: { failureThreshold: 100, openMs: 1000, halfOpenProbes: 1 } }).structured(request()));
    expect(err.code).toBe('upstream_unavailable');
    expect(err.attempts).toBe(3);
    expect(err.requestId).toMatch(/\S/);
    expect(err.calls).toEqual([expect.objectContaining({ outcome: 'upstream_unavailable', attempts: 3, retries: 2 })]);
    expect(sim.stats().messages).toBe(3);
  });

  it('does not retry an error the server marks x-should-retry: false, whatever its status', async () => {
    sim.faults.next({ kind: 'status', status: 500, shouldRetry: false }, 3);
    const err = await failure(client().structured(request()));
    expect(err).toMatchObject({ code: 'upstream_unavailable', retryable: false, attempts: 1 });
    expect(sim.stats().messages).toBe(1);
    expect(waits).toEqual([]);
  });

  it('never retries a 400', async () => {
    sim.faults.next({ kind: 'status', status: 400, message: 'messages: bad' });
    const err = await failure(client().structured(request()));
    expect(err.code).toBe('upstream_rejected');
    expect(err.retryable).toBe(false);
    expect(sim.stats().messages).toBe(1);
    expect(client().breakerState()).toBe('closed');
  });

  it('retries a reset connection and a malformed body', async () => {
    sim.faults.next({ kind: 'reset' });
    sim.faults.next({ kind: 'malformed' });
    const res = await client().structured(request());
    expect(res.calls[0]).toMatchObject({ outcome: 'ok', attempts: 3 });
  });

  it('retries a stream that broke off or carried an error event', async () => {
    sim.faults.next({ kind: 'truncated-stream' });
    sim.faults.next({ kind: 'stream-error' });
    const res = await client().structured(request({ stream: true }));
    expect(res.calls[0]).toMatchObject({ outcome: 'ok', attempts: 3, streamed: true });
    // the two broken attempts reported their usage before they broke: billed, and in the record
    expect(sim.charges.map((c) => c.partial ?? false)).toEqual([true, true, false]);
    expect(res.calls[0]!.usage.outputTokens).toBe(sim.charges.reduce((n, c) => n + c.outputTokens, 0));
  });

  it('retries a stream whose first event is an error (before message_start), billing that attempt nothing', async () => {
    sim.faults.next({ kind: 'stream-error', at: 'start' });
    const res = await client().structured(request({ stream: true }));
    expect(res.calls[0]).toMatchObject({ outcome: 'ok', attempts: 2, streamed: true });
    expect(sim.charges).toHaveLength(1);
    const only = sim.charges[0]!;
    expect(res.calls[0]!.usage).toMatchObject({ inputTokens: only.inputTokens, outputTokens: only.outputTokens, cacheReadTokens: only.cacheReadInputTokens });
  });

  it('a hung upstream fails with upstream_timeout within the feature timeout', async () => {
    sim.faults.next({ kind: 'hang' }, 5);
    const c = client({ timeoutsMs: { grading: 300 }, retry: { maxRetries: 0, maxTotalMs: 5_000, baseDelayMs: 10 } });
    const started = Date.now();
    const err = await failure(c.structured(request()));
    expect(err.code).toBe('upstream_timeout');
    expect(err.retryable).toBe(true);
    // Generous bound: proves the 300 ms deadline fired, not the 30 s default or the SDK's 10 min.
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('a hung stream also times out', async () => {
    sim.faults.next({ kind: 'hang' }, 5);
    const c = client({ timeoutsMs: { grading: 300 }, retry: { maxRetries: 0, maxTotalMs: 5_000, baseDelayMs: 10 } });
    const err = await failure(c.structured(request({ stream: true })));
    expect(err.code).toBe('upstream_timeout');
  });

  it('the caller aborting stops the call without retries', async () => {
    sim.faults.next({ kind: 'hang' }, 5);
    const ctl = new AbortController();
    const p = client().structured(request({ signal: ctl.signal }));
    setTimeout(() => ctl.abort(), 50);
    const err = await failure(p);
    expect(err.code).toBe('upstream_timeout');
    expect(err.retryable).toBe(false);
    expect(err.attempts).toBe(1);
  });
});

describe('usage of attempts that failed', () => {
  const total = (charges: Simulator['charges']) => ({
    inputTokens: charges.reduce((n, c) => n + c.inputTokens, 0),
    outputTokens: charges.reduce((n, c) => n + c.outputTokens, 0),
    cacheWriteTokens: charges.reduce((n, c) => n + c.cacheCreationInputTokens, 0),
    cacheReadTokens: charges.reduce((n, c) => n + c.cacheReadInputTokens, 0),
  });
  const recorded = (r: LlmCallRecord) => ({
    inputTokens: r.usage.inputTokens,
    outputTokens: r.usage.outputTokens,
    cacheWriteTokens: r.usage.cacheWrite5mTokens + r.usage.cacheWrite1hTokens,
    cacheReadTokens: r.usage.cacheReadTokens,
  });
  const noRetries = { retry: { maxRetries: 0, maxTotalMs: 5_000, baseDelayMs: 10 } };

  it.each([
    ['cut by the network mid-answer', { kind: 'truncated-stream' }],
    ['ended by an error event mid-answer', { kind: 'stream-error' }],
    ['cut after its message_delta, before message_stop', { kind: 'truncated-stream', after: 'message_delta' }],
    ['stalled mid-answer until our deadline', { kind: 'stalled-stream' }],
  ] as const)('a stream %s records what message_start (and any message_delta) reported', async (_name, fault) => {
    sim.faults.next(fault);
    // the stalled stream waits out this deadline; a second leaves message_start time to arrive under load
    const err = await failure(client({ ...noRetries, timeoutsMs: { grading: 1_000 } }).structured(request({ stream: true })));
    expect(sim.charges).toEqual([expect.objectContaining({ partial: true })]);
    const [charge] = sim.charges;
    expect(charge!.inputTokens + charge!.cacheCreationInputTokens + charge!.cacheReadInputTokens).toBeGreaterThan(100);
    expect(err.calls).toEqual([expect.objectContaining({ outcome: err.code, attempts: 1, streamed: true })]);
    // our deadline is a timeout, whether it fires before the answer or while its body is read
    if (fault.kind === 'stalled-stream') expect(err.code).toBe('upstream_timeout');
    expect(recorded(err.calls[0]!)).toEqual(total(sim.charges));
    // message_start reports a placeholder output count; message_delta the whole answer's
    if ('after' in fault) expect(charge!.outputTokens).toBeGreaterThan(1);
    expect(err.calls[0]!.usage.outputTokens).toBe('after' in fault ? charge!.outputTokens : 1);
    expect(records).toEqual(err.calls);
  });

  it('the caller leaving mid-stream still records what the stream had reported', async () => {
    // The caller leaves once the SDK has handled message_start: it asks for more of the body
    // only after handling every whole event it was given, and a content delta follows the start.
    const transport = createHttpFetch();
    let startHandled!: () => void;
    const handled = new Promise<void>((r) => (startHandled = r));
    const watching = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const res = await transport(input, init);
      const reader = res.body?.getReader();
      if (!reader) return res;
      let seen = '';
      const body = new ReadableStream<Uint8Array>(
        {
          async pull(ctrl) {
            if (seen.includes('event: content_block_delta')) startHandled();
            const { value, done } = await reader.read();
            if (done) ctrl.close();
            else {
              seen += Buffer.from(value).toString('utf8');
              ctrl.enqueue(value);
            }
          },
          cancel: (why) => reader.cancel(why),
        },
        { highWaterMark: 0 },
      );
      return new Response(body, { status: res.status, headers: res.headers });
    }) as typeof fetch;
    sim.faults.next({ kind: 'stalled-stream' });
    const ctl = new AbortController();
    const p = client({ fetch: watching }).structured(request({ stream: true, signal: ctl.signal }));
    await handled;
    ctl.abort();
    const err = await failure(p);
    expect(err).toMatchObject({ code: 'upstream_timeout', retryable: false, attempts: 1 });
    expect(recorded(err.calls[0]!)).toEqual(total(sim.charges));
    expect(err.calls[0]!.usage.inputTokens).toBeGreaterThan(0);
  });

  it('every broken attempt of a call that finally fails is summed into its one failure record', async () => {
    sim.faults.next({ kind: 'truncated-stream' }, 3);
    const err = await failure(client({ retry: { maxRetries: 2, maxTotalMs: 60_000, baseDelayMs: 1 } }).structured(request({ stream: true })));
    expect(err.calls).toEqual([expect.objectContaining({ outcome: 'upstream_unavailable', attempts: 3 })]);
    expect(sim.charges).toHaveLength(3);
    expect(recorded(err.calls[0]!)).toEqual(total(sim.charges));
  });

  it('an error event mid-stream is retried or not by its type, and the broken attempt is billed what it reported either way', async () => {
    // invalid_request_error can come mid-stream (refused once generating): retrying the same request cannot help.
    sim.faults.next({ kind: 'stream-error', errorType: 'invalid_request_error' }, 3);
    const rejected = await failure(client().structured(request({ stream: true })));
    expect(rejected).toMatchObject({ code: 'upstream_rejected', retryable: false, attempts: 1 });
    expect(sim.charges).toHaveLength(1);
    expect(recorded(rejected.calls[0]!)).toEqual(total(sim.charges));
    expect(waits).toEqual([]);
    sim.reset();
    // api_error is the API's own failure: retried, like overloaded_error.
    sim.faults.next({ kind: 'stream-error', errorType: 'api_error' });
    const res = await client().structured(request({ stream: true }));
    expect(res.calls).toEqual([expect.objectContaining({ outcome: 'ok', attempts: 2 })]);
    expect(recorded(res.calls[0]!)).toEqual(total(sim.charges));
  });

  it('a broken attempt and the retry that succeeded are both in the one record, each once', async () => {
    sim.faults.next({ kind: 'truncated-stream' });
    sim.script.enqueue({ json: { score: 4, feedback: 'Retried.' } });
    const res = await client().structured(request({ stream: true }));
    expect(res.value).toEqual({ score: 4, feedback: 'Retried.' });
    const [broken, answer] = sim.charges;
    expect(sim.charges).toHaveLength(2);
    expect(broken!.partial).toBe(true);
    expect(answer!.partial).toBeUndefined();
    expect(broken!.inputTokens + broken!.cacheCreationInputTokens).toBeGreaterThan(0);
    expect(res.calls).toEqual([expect.objectContaining({ outcome: 'ok', attempts: 2, messageId: answer!.id })]);
    expect(recorded(res.calls[0]!)).toEqual(total([broken!, answer!]));
    expect(records).toEqual(res.calls);
  });

  it('a failed non-streamed attempt has no body to read usage from: it records zero, as does a stream that never started', async () => {
    for (const [fault, stream] of [
      [{ kind: 'truncated-stream' }, false], // half a JSON body
      [{ kind: 'stalled-stream' }, false],
      [{ kind: 'reset' }, false],
      [{ kind: 'status', status: 529 }, true],
      [{ kind: 'hang' }, true],
      [{ kind: 'malformed' }, true], // message_start itself does not parse
    ] as const) {
      sim.faults.next(fault);
      const err = await failure(client({ ...noRetries, timeoutsMs: { grading: 300 } }).structured(request({ stream })));
      expect(err.calls, JSON.stringify(fault)).toEqual([expect.objectContaining({ attempts: 1, usage: { inputTokens: 0, outputTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, cacheReadTokens: 0 } })]);
    }
    expect(sim.charges).toEqual([]);
  });
});

describe('a caller who has gone', () => {
  it('an already-aborted signal makes no upstream request: upstream_timeout, not retryable', async () => {
    const ctl = new AbortController();
    ctl.abort();
    const err = await failure(client().structured(request({ signal: ctl.signal })));
    expect(err).toMatchObject({ code: 'upstream_timeout', retryable: false, attempts: 0 });
    expect(err.message).toContain('aborted by the caller');
    expect(err.calls).toEqual([expect.objectContaining({ outcome: 'upstream_timeout', attempts: 0 })]);
    expect(sim.requests).toHaveLength(0);
  });

  it('an abort between the answer and its repair round makes no repair call', async () => {
    const ctl = new AbortController();
    sim.script.enqueue({ json: { score: 11, feedback: 'out of range' } });
    sim.script.enqueue({ json: { score: 1, feedback: 'never asked for' } });
    // parse runs between the two rounds: abort there, as a client hanging up at that moment would.
    const parse = (raw: unknown) => (ctl.abort(), parseVerdict(raw));
    const err = await failure(client().structured(request({ signal: ctl.signal, parse })));
    expect(err).toMatchObject({ code: 'upstream_timeout', retryable: false });
    expect(sim.stats().messages).toBe(1);
    expect(err.calls.map((c) => [c.outcome, c.repair ?? false])).toEqual([['upstream_invalid_output', false], ['upstream_timeout', true]]);
  });
});

describe('circuit breaker', () => {
  it('opens after N consecutive failures, then fails fast without calling upstream, then a good probe closes it', async () => {
    const c = client({
      now: () => clock,
      retry: { maxRetries: 0, maxTotalMs: 60_000, baseDelayMs: 10 },
      breaker: { failureThreshold: 3, openMs: 10_000, halfOpenProbes: 1 },
    });
    sim.faults.next({ kind: 'status', status: 529 }, 3);
    for (let i = 0; i < 3; i++) expect((await failure(c.structured(request()))).code).toBe('upstream_unavailable');
    expect(c.breakerState()).toBe('open');
    expect(c.available('grading')).toBe(false);
    expect(c.available()).toBe(true); // the key itself is fine: other models stay callable
    expect(logs.some(([, o]) => (o as { event?: string }).event === 'llm_breaker_open')).toBe(true);

    const before = sim.stats().messages;
    const err = await failure(c.structured(request()));
    expect(err.code).toBe('circuit_open');
    expect(err.calls).toEqual([expect.objectContaining({ outcome: 'circuit_open', attempts: 0 })]);
    expect(sim.stats().messages).toBe(before);

    clock += 10_000;
    expect(c.breakerState()).toBe('half_open');
    const res = await c.structured(request());
    expect(res.calls[0]!.outcome).toBe('ok');
    expect(c.breakerState()).toBe('closed');
    expect(sim.stats().messages).toBe(before + 1);
  });

  it('a failed probe opens it again for another openMs', async () => {
    const c = client({ now: () => clock, retry: { maxRetries: 0, maxTotalMs: 60_000, baseDelayMs: 10 }, breaker: { failureThreshold: 2, openMs: 5_000, halfOpenProbes: 1 } });
    sim.faults.next({ kind: 'status', status: 503 as 500 }, 3);
    await failure(c.structured(request()));
    await failure(c.structured(request()));
    expect(c.breakerState()).toBe('open');
    clock += 5_000;
    expect((await failure(c.structured(request()))).code).toBe('upstream_unavailable');
    expect(c.breakerState()).toBe('open');
    clock += 4_999;
    expect(c.breakerState()).toBe('open');
  });

  it('invalid output from a healthy upstream does not count toward opening it', async () => {
    const c = client({ breaker: { failureThreshold: 2, openMs: 5_000, halfOpenProbes: 1 } });
    for (let i = 0; i < 4; i++) sim.script.enqueue({ text: 'nope' });
    await failure(c.structured(request()));
    await failure(c.structured(request()));
    expect(c.breakerState()).toBe('closed');
  });

  it('401 opens it at once with an alert that names the key only by fingerprint', async () => {
    const wrongKey = 'sk-ant-.api03-WRONGKEY-zzzzyyyyxxxxwwwwvvvv-1234';
    const c = client({ apiKey: wrongKey });
    const err = await failure(c.structured(request()));
    expect(err.code).toBe('upstream_rejected');
    expect(err.status).toBe(401);
    expect(c.breakerState()).toBe('open');
    expect(sim.stats().messages).toBe(0); // auth is checked before the handler counts a message
    const alert = logs.find(([level, o]) => level === 'error' && (o as { alert?: boolean }).alert === true);
    expect(alert).toBeDefined();
    expect((alert![1] as { key: string }).key).toBe(c.keyFingerprint());
    for (const text of [err.message, JSON.stringify(err), JSON.stringify(logs)]) {
      expect(text).not.toContain(wrongKey);
      expect(text).not.toContain('WRONGKEY');
    }
    expect((await failure(c.structured(request()))).code).toBe('circuit_open');

    // Rotation to the right key closes it without waiting out openMs.
    c.setApiKey(KEY);
    expect(c.breakerState()).toBe('closed');
    expect((await c.structured(request())).calls[0]!.outcome).toBe('ok');
  });

  it.each([
    ['the monthly spend cap (a 429 without retry-after)', { kind: 'status', status: 429, errorCode: 'enforced_spend_limit_reached' } as const, 'upstream_rate_limited'],
    ['a billing error (402)', { kind: 'status', status: 402 } as const, 'upstream_rejected'],
  ])('%s is not retried and fails every model fast, with an alert', async (_name, fault, code) => {
    const c = client({ models: { default: 'claude-haiku-5-5', grading: 'claude-sonnet-5-5', learning_path: 'claude-opus-5-5' } });
    sim.faults.next(fault, 10);
    const err = await failure(c.structured(request()));
    expect(err).toMatchObject({ code, retryable: false, attempts: 1 });
    expect(waits).toEqual([]);
    expect(sim.stats().faulted).toBe(1);
    // The cap is the account's: another model would get the same answer, so it is not even asked.
    expect(c.available('learning_path')).toBe(false);
    expect((await failure(c.structured(request({ feature: 'learning_path' })))).code).toBe('circuit_open');
    expect(sim.stats().faulted).toBe(1);
    const alert = logs.find(([level, o]) => level === 'error' && (o as { event?: string }).event === 'llm_account_blocked');
    expect(alert?.[1]).toMatchObject({ alert: true, status: fault.status, key: c.keyFingerprint() });
    expect(records.filter((r) => r.outcome !== 'circuit_open').map((r) => r.usage.inputTokens)).toEqual([0]);
  });

  it("a model the API does not serve (404 'model: <id>') is not retried, opens that model's breaker with an alert naming it, and leaves other models alone", async () => {
    const c = client({ now: () => clock, models: { default: 'claude-haiku-5-5', grading: 'claude-sonnet-4-7' } });
    const err = await failure(c.structured(request()));
    expect(err).toMatchObject({ code: 'upstream_rejected', status: 404, retryable: false, attempts: 1 });
    expect(err.message).toContain('model: claude-sonnet-4-7');
    expect(waits).toEqual([]);
    const alert = logs.find(([level, o]) => level === 'error' && (o as { event?: string }).event === 'llm_model_not_found');
    expect(alert?.[1]).toMatchObject({ alert: true, model: 'claude-sonnet-4-7', feature: 'grading', status: 404, requestId: expect.stringMatching(/^req_sim_/) });
    // Every call to it would get the same 404: the next fails fast without asking.
    expect(c.available('grading')).toBe(false);
    expect((await failure(c.structured(request()))).code).toBe('circuit_open');
    expect(sim.requests.filter((r) => r.path === '/v1/messages')).toHaveLength(1);
    // The key is fine: another model is still served.
    expect(c.available('learning_path')).toBe(true);
    expect((await c.structured(request({ feature: 'learning_path' }))).calls[0]!.outcome).toBe('ok');
    // After openMs one probe asks again, and the same 404 opens it again.
    clock += 10_000;
    expect((await failure(c.structured(request()))).status).toBe(404);
    expect(c.breakerState('grading')).toBe('open');
  });

  it('after a 401 trip, a half-open probe that gets no HTTP answer leaves the key breaker unproven; an answer closes it', async () => {
    // The model breaker's threshold is out of reach: this test watches the key breaker alone.
    const c = client({ now: () => clock, retry: { maxRetries: 0, maxTotalMs: 60_000, baseDelayMs: 10 }, breaker: { failureThreshold: 100, openMs: 10_000, halfOpenProbes: 1 } });
    sim.faults.next({ kind: 'status', status: 401 });
    expect((await failure(c.structured(request()))).status).toBe(401);
    expect(c.available()).toBe(false);
    clock += 10_000;
    // A reset, our own deadline and a cut stream all say nothing about whether the key is good.
    for (const fault of [{ kind: 'reset' }, { kind: 'truncated-stream' }] as const) {
      sim.faults.next(fault);
      expect((await failure(c.structured(request({ stream: true })))).code).toBe('upstream_unavailable');
      expect(c.breakerState()).toBe('half_open');
    }
    // A status from the server does: a 529 is not a 401, so the key was accepted.
    sim.faults.next({ kind: 'status', status: 529 });
    expect((await failure(c.structured(request()))).code).toBe('upstream_unavailable');
    expect(c.available()).toBe(true);
    expect(c.breakerState()).toBe('closed');
  });

  it('a 401 to a key rotated out while its call was in flight neither trips the breaker nor blames the new key', async () => {
    const oldKey = 'sk-ant-.api03-OLDKEY-zzzzyyyyxxxxwwwwvvvv-5678';
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let first = true;
    const c = client({
      apiKey: oldKey,
      fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
        if (first) {
          first = false;
          await held; // the call with the old key is on its way when the key is rotated
        }
        return fetch(input, init);
      }) as typeof fetch,
    });
    const pending = failure(c.structured(request()));
    await new Promise((r) => setTimeout(r, 20));
    c.setApiKey(KEY);
    release();
    const err = await pending;
    expect(err.status).toBe(401);
    expect(c.breakerState()).toBe('closed');
    const alert = logs.find(([level, o]) => level === 'error' && (o as { event?: string }).event === 'llm_auth_failed')![1] as { key: string; current: boolean };
    expect(alert.current).toBe(false);
    expect(alert.key).not.toBe(c.keyFingerprint());
    expect((await c.structured(request())).calls[0]!.outcome).toBe('ok');
  });
});

describe('local concurrency cap', () => {
  it('with maxInFlight 2 and maxQueued 1, the 4th concurrent call fails fast with overloaded_locally', async () => {
    const c = client({ concurrency: { maxInFlight: 2, maxQueued: 1, queueTimeoutMs: 5_000 } });
    for (let i = 0; i < 3; i++) sim.script.enqueue({ json: { score: i, feedback: 'ok' }, latencyMs: 200 });
    const running = [c.structured(request()), c.structured(request()), c.structured(request())];
    const err = await failure(c.structured(request()));
    expect(err.code).toBe('overloaded_locally');
    expect(err.retryable).toBe(true);
    const settled = await Promise.all(running);
    expect(settled.map((r) => r.calls[0]!.outcome)).toEqual(['ok', 'ok', 'ok']);
    expect(sim.stats().messages).toBe(3);
  });

  it('a queued call gives up after queueTimeoutMs', async () => {
    const c = client({ concurrency: { maxInFlight: 1, maxQueued: 1, queueTimeoutMs: 50 } });
    sim.script.enqueue({ json: { score: 1, feedback: 'ok' }, latencyMs: 500 });
    const first = c.structured(request());
    const err = await failure(c.structured(request()));
    expect(err.code).toBe('overloaded_locally');
    await first;
  });
});

describe('keys, tokens and batches', () => {
  it('no key: fails with no_api_key and reports unavailable', async () => {
    const c = client({ apiKey: null });
    expect(c.available()).toBe(false);
    expect(c.keyFingerprint()).toBeNull();
    expect((await failure(c.structured(request()))).code).toBe('no_api_key');
    expect(sim.requests).toHaveLength(0);
  });

  it('the key never appears in errors, their JSON or the logs across every failure kind', async () => {
    const c = client({ retry: { maxRetries: 1, maxTotalMs: 60_000, baseDelayMs: 1 }, breaker: { failureThreshold: 100, openMs: 1000, halfOpenProbes: 1 } });
    const errors: LlmError[] = [];
    for (const f of [
      { kind: 'status', status: 400, message: `bad key ${KEY}` },
      { kind: 'status', status: 429 },
      { kind: 'status', status: 500, message: `Authorization: Bearer ${KEY}` },
      { kind: 'reset' },
      { kind: 'malformed' },
    ] as const) {
      // As many faults as the call makes attempts, so each call meets only its own fault.
      sim.faults.next(f, f.kind === 'status' && f.status === 400 ? 1 : 2);
      errors.push(await failure(c.structured(request())));
    }
    sim.script.enqueue({ text: `echo ${KEY}` });
    sim.script.enqueue({ text: `echo ${KEY}` });
    errors.push(await failure(c.structured(request())));
    expect(errors.map((e) => e.code)).toEqual(['upstream_rejected', 'upstream_rate_limited', 'upstream_unavailable', 'upstream_unavailable', 'upstream_invalid_output', 'upstream_invalid_output']);
    expect(errors.at(-1)!.problems![0]).toContain('not valid JSON');
    const everything = JSON.stringify([errors, errors.map((e) => e.message), errors.map((e) => e.stack), logs, records]);
    expect(everything).not.toContain(KEY);
    expect(everything).not.toContain('SIMTESTKEY');
  });

  it('fingerprints the key without revealing it', () => {
    const fp = client().keyFingerprint()!;
    expect(fp).toMatch(/^sk-ant-…9f2c \(sha256:[0-9a-f]{8}\)$/);
  });

  it('counts tokens through the endpoint and falls back to chars/4 when it fails', async () => {
    const c = client();
    const sys = [{ text: 'a'.repeat(400) }];
    const n = await c.countTokens('grading', sys, 'b'.repeat(40), schema);
    expect(n).toBeGreaterThan(0);
    expect(sim.stats().countTokens).toBe(1);

    const down = client({ baseURL: 'http://127.0.0.1:9' });
    expect(await down.countTokens('grading', sys, 'b'.repeat(40))).toBe(110);
  });

  it('runs a batch: create, poll, read results with usage equal to the charges', async () => {
    const c = client();
    const id = await c.batches.create([
      { customId: 'a', feature: 'grading', system: [{ text: 'Grade.' }], user: 'Answer: 4', schema, maxTokens: 200 },
      { customId: 'b', feature: 'grading', system: [{ text: 'Grade.' }], user: 'Answer: 5', schema, maxTokens: 200 },
    ]);
    let status = await c.batches.retrieve(id);
    for (let i = 0; i < 100 && status.status !== 'ended'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      status = await c.batches.retrieve(id);
    }
    expect(status.status).toBe('ended');
    expect(status.counts.succeeded).toBe(2);
    const results = [];
    for await (const r of c.batches.results(id)) results.push(r);
    expect(results.map((r) => r.customId).sort()).toEqual(['a', 'b']);
    for (const r of results) {
      expect(r.ok).toBe(true);
      expect(parseVerdict(r.raw).ok).toBe(true);
      const charge = sim.charges.find((ch) => ch.id === r.messageId)!;
      expect(charge.batch).toBe(true);
      expect(r.usage!.inputTokens).toBe(charge.inputTokens);
      expect(r.usage!.outputTokens).toBe(charge.outputTokens);
    }
  });

  it('batch results that cannot be used: expired, canceled, refused, cut by the context window; only answered ones carry usage', async () => {
    const c = client();
    sim.script.when('Answer: late', { batchResult: 'expired' });
    sim.script.when('Answer: dropped', { batchResult: 'canceled' });
    sim.script.when('Answer: refuse', { stopReason: 'refusal' });
    // Complete JSON that still stopped at the context window: not a finished answer.
    sim.script.when('Answer: long', { json: { score: 4, feedback: 'good' }, stopReason: 'model_context_window_exceeded' });
    const item = (customId: string) => ({ customId, feature: 'grading', system: [{ text: 'Grade.' }], user: `Answer: ${customId}`, schema, maxTokens: 200 });
    const id = await c.batches.create(['ok', 'late', 'dropped', 'refuse', 'long'].map(item));
    let status = await c.batches.retrieve(id);
    for (let i = 0; i < 100 && status.status !== 'ended'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      status = await c.batches.retrieve(id);
    }
    expect(status.counts).toMatchObject({ succeeded: 3, expired: 1, canceled: 1, errored: 0 });
    const results = new Map<string, BatchResultItem>();
    for await (const r of c.batches.results(id)) results.set(r.customId, r);
    expect(results.get('ok')).toMatchObject({ ok: true });
    expect(results.get('late')).toEqual({ customId: 'late', ok: false, error: 'expired' });
    expect(results.get('dropped')).toEqual({ customId: 'dropped', ok: false, error: 'canceled' });
    expect(results.get('refuse')).toMatchObject({ ok: false, error: 'refusal', stopReason: 'refusal' });
    expect(results.get('long')).toMatchObject({ ok: false, error: 'model_context_window_exceeded' });
    // What was answered was billed, refused and cut answers included, and nothing else.
    const billed = [...results.values()].filter((r) => r.usage).map((r) => r.messageId).sort();
    expect(billed).toEqual(sim.charges.map((ch) => ch.id).sort());
    expect(billed).toHaveLength(3);
  });

  it('lists batches newest first, across pages of 100', async () => {
    const c = client();
    const ids: string[] = [];
    for (let i = 0; i < 101; i++) ids.push(await c.batches.create([{ customId: 'a', feature: 'grading', system: [{ text: 'Grade.' }], user: `x${i}`, schema, maxTokens: 200 }]));
    const listed: string[] = [];
    for await (const b of c.batches.list()) listed.push(b.id);
    expect(listed.slice(0, 101)).toEqual(ids.reverse());
    expect(new Set(listed).size).toBe(listed.length);
  });

  it('cancels a batch', async () => {
    const c = client();
    const id = await c.batches.create([{ customId: 'a', feature: 'grading', system: [{ text: 'Grade.' }], user: 'x', schema, maxTokens: 200 }]);
    await c.batches.cancel(id);
    const s = await c.batches.retrieve(id);
    expect(['canceling', 'ended']).toContain(s.status);
  });
});
