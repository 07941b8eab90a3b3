import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator, type StatusFaultCode } from './index.js';

const MODEL = 'claude-haiku-5-5';
let sim: Simulator;
let client: Anthropic;

beforeAll(async () => {
  sim = await startSimulator();
  client = new Anthropic({ apiKey: 'sk-ant-test-faults', baseURL: sim.url, maxRetries: 0 });
});
afterAll(() => sim.close());
beforeEach(() => sim.reset());

const params = { model: MODEL, max_tokens: 100, messages: [{ role: 'user' as const, content: 'Hello' }] };
const failure = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as Error);

describe('injected faults surface as the SDK errors production code must handle', () => {
  it.each([
    [400, Anthropic.BadRequestError, 'invalid_request_error'],
    [401, Anthropic.AuthenticationError, 'authentication_error'],
    [403, Anthropic.PermissionDeniedError, 'permission_error'],
    [404, Anthropic.NotFoundError, 'not_found_error'],
    [413, Anthropic.ContentTooLargeError, 'request_too_large'],
    [429, Anthropic.RateLimitError, 'rate_limit_error'],
    [500, Anthropic.InternalServerError, 'api_error'],
    [504, Anthropic.GatewayTimeoutError, 'timeout_error'],
    [529, Anthropic.OverloadedError, 'overloaded_error'],
  ] as const)('status %i becomes %o', async (status, ErrorClass, type) => {
    sim.faults.next({ kind: 'status', status: status as StatusFaultCode });
    const err = (await failure(client.messages.create(params))) as APIError;
    expect(err).toBeInstanceOf(ErrorClass);
    expect(err.status).toBe(status);
    expect(err.type).toBe(type);
    expect(err.requestID).toMatch(/^req_sim_/);
    expect(sim.charges).toHaveLength(0);
  });

  it('carries retry-after headers that the SDK honours when retrying', async () => {
    sim.faults.next({ kind: 'status', status: 429, retryAfterSec: 7, retryAfterMs: 20 }, 2);
    const err = (await failure(client.messages.create(params))) as APIError;
    expect(err.headers?.get('retry-after')).toBe('7');
    expect(err.headers?.get('retry-after-ms')).toBe('20');
    const retrying = new Anthropic({ apiKey: 'k', baseURL: sim.url, maxRetries: 2 });
    const started = Date.now();
    const msg = await retrying.messages.create(params);
    expect(msg.id).toMatch(/^msg_sim_/);
    expect(Date.now() - started).toBeLessThan(2000); // retry-after-ms wins over the 7 s header
    expect(sim.stats().faulted).toBe(2);
    expect(sim.charges).toHaveLength(1);
  });

  it("a rate-limit 429 carries the API's retry-after and exhausted anthropic-ratelimit-* headers; a spend cap's carries none", async () => {
    sim.faults.next({ kind: 'status', status: 429 });
    const limited = (await failure(client.messages.create(params))) as APIError;
    expect(limited.headers?.get('retry-after')).toBe('1');
    expect(limited.headers?.get('anthropic-ratelimit-requests-remaining')).toBe('0');
    expect(Date.parse(limited.headers?.get('anthropic-ratelimit-requests-reset') ?? '')).toBeGreaterThan(Date.now() - 1000);
    expect(limited.headers?.get('anthropic-ratelimit-tokens-limit')).toMatch(/^\d+$/);
    expect(limited.requestID).toMatch(/^req_sim_/);

    sim.faults.next({ kind: 'status', status: 429, retryAfterSec: 30 });
    expect(((await failure(client.messages.create(params))) as APIError).headers?.get('retry-after')).toBe('30');

    sim.faults.next({ kind: 'status', status: 429, errorCode: 'enforced_spend_limit_reached' });
    const capped = (await failure(client.messages.create(params))) as APIError;
    expect(capped.headers?.get('retry-after')).toBeNull();
    expect(capped.headers?.get('anthropic-ratelimit-requests-remaining')).toBeNull();

    sim.faults.next({ kind: 'status', status: 429, retryAfterSec: null });
    const bare = (await failure(client.messages.create(params))) as APIError;
    expect(bare.headers?.get('retry-after')).toBeNull();
    expect(bare.headers?.get('anthropic-ratelimit-requests-remaining')).toBe('0');
  });

  it('next(fault, n) fails exactly n calls', async () => {
    sim.faults.next({ kind: 'status', status: 500 }, 2);
    await failure(client.messages.create(params));
    await failure(client.messages.create(params));
    await expect(client.messages.create(params)).resolves.toBeTruthy();
  });

  it('rate(fault, 1) fails every call until cleared', async () => {
    sim.faults.rate({ kind: 'status', status: 529 }, 1);
    await failure(client.messages.create(params));
    await failure(client.messages.create(params));
    sim.faults.clear();
    await expect(client.messages.create(params)).resolves.toBeTruthy();
  });

  it('hang: the SDK times out, and close() is not held up by the hung socket', async () => {
    const own = await startSimulator();
    const c = new Anthropic({ apiKey: 'k', baseURL: own.url, maxRetries: 0, timeout: 150 });
    own.faults.next({ kind: 'hang' });
    const hung = failure(c.messages.create(params));
    own.script.enqueue({ fault: { kind: 'hang' } });
    const second = failure(new Anthropic({ apiKey: 'k', baseURL: own.url, maxRetries: 0 }).messages.create(params));
    expect(await hung).toBeInstanceOf(Anthropic.APIConnectionTimeoutError);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await own.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await second).toBeInstanceOf(Anthropic.APIConnectionError);
  });

  it('reset destroys the socket: APIConnectionError', async () => {
    sim.faults.next({ kind: 'reset' });
    const err = await failure(client.messages.create(params));
    expect(err).toBeInstanceOf(Anthropic.APIConnectionError);
    expect(err).not.toBeInstanceOf(Anthropic.APIConnectionTimeoutError);
  });

  it('malformed: a 200 whose JSON body does not parse', async () => {
    sim.faults.next({ kind: 'malformed' });
    const err = await failure(client.messages.create(params));
    expect(err).toBeInstanceOf(SyntaxError);
  });

  // What the request would have been answered: its usage is what a broken stream reports.
  const answered = async (p: typeof params) => (await client.messages.create(p)).usage;

  it('truncated-stream: the stream is cut mid-way and finalMessage rejects; message_start reported the usage, which is charged', async () => {
    const long = { ...params, messages: [{ role: 'user' as const, content: 'Tell me about the water cycle. '.repeat(20) }] };
    const usage = await answered(long);
    sim.reset();
    sim.faults.next({ kind: 'truncated-stream' });
    const stream = client.messages.stream(long);
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    const err = await failure(stream.finalMessage());
    expect(err).toBeInstanceOf(Anthropic.AnthropicError);
    expect(deltas.length).toBeGreaterThan(0);
    expect(stream.currentMessage?.usage).toMatchObject({ input_tokens: usage.input_tokens, output_tokens: 1 });
    expect(sim.charges).toEqual([expect.objectContaining({ id: stream.currentMessage!.id, inputTokens: usage.input_tokens, outputTokens: 1, partial: true })]);
  });

  it('truncated-stream after message_delta: the whole answer and its usage arrive, message_stop does not', async () => {
    const usage = await answered(params);
    sim.reset();
    sim.faults.next({ kind: 'truncated-stream', after: 'message_delta' });
    const stream = client.messages.stream(params);
    const err = await failure(stream.finalMessage());
    expect(err).toBeInstanceOf(Anthropic.AnthropicError);
    expect(stream.currentMessage?.usage).toMatchObject({ input_tokens: usage.input_tokens, output_tokens: usage.output_tokens });
    expect(stream.currentMessage?.stop_reason).toBe('end_turn');
    expect(sim.charges).toEqual([expect.objectContaining({ inputTokens: usage.input_tokens, outputTokens: usage.output_tokens, partial: true })]);
  });

  it('stream-error: an error event mid-stream becomes an APIError of type overloaded_error; message_start reported the usage, which is charged', async () => {
    sim.faults.next({ kind: 'stream-error' });
    const stream = client.messages.stream(params);
    const err = (await failure(stream.finalMessage())) as APIError;
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err.type).toBe('overloaded_error');
    expect(sim.charges).toEqual([expect.objectContaining({ inputTokens: stream.currentMessage!.usage.input_tokens, outputTokens: 1, partial: true })]);
  });

  it("stream-error at: 'start': a 200 whose only event is the error, before message_start; nothing began, nothing is charged", async () => {
    sim.faults.next({ kind: 'stream-error', at: 'start' });
    const stream = client.messages.stream(params);
    const err = (await failure(stream.finalMessage())) as APIError;
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err.type).toBe('overloaded_error');
    expect(stream.currentMessage).toBeUndefined();
    expect(sim.charges).toEqual([]);
    await expect(client.messages.stream(params).finalMessage()).resolves.toMatchObject({ type: 'message' });
  });

  it('stalled-stream: the stream goes silent mid-answer until the client gives up; charged what message_start reported', async () => {
    sim.faults.next({ kind: 'stalled-stream' });
    const ctl = new AbortController();
    const stream = client.messages.stream(params, { signal: ctl.signal });
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    // give up a while after the answer began: nothing more came, and it never ended on its own
    stream.once('text', () => setTimeout(() => ctl.abort(), 100));
    expect(await failure(stream.finalMessage())).toBeInstanceOf(Anthropic.APIUserAbortError);
    expect(deltas.length).toBeGreaterThan(0);
    expect(sim.charges).toEqual([expect.objectContaining({ inputTokens: stream.currentMessage!.usage.input_tokens, outputTokens: 1, partial: true })]);
    // non-stream: headers and half a body, then silence; no usage reaches the client, none is charged
    sim.faults.next({ kind: 'stalled-stream' });
    await failure(client.messages.create(params, { signal: AbortSignal.timeout(200) }));
    expect(sim.charges).toHaveLength(1);
  });

  it('a stream fault on an invalid request is a stub, never charged', async () => {
    sim.faults.next({ kind: 'truncated-stream' });
    await failure(client.messages.stream({ ...params, max_tokens: -1 }).finalMessage());
    expect(sim.charges).toHaveLength(0);
  });

  it('a scripted fault applies only to the call that consumes it', async () => {
    sim.script.enqueue({ fault: { kind: 'status', status: 403 } });
    expect(await failure(client.messages.create(params))).toBeInstanceOf(Anthropic.PermissionDeniedError);
    await expect(client.messages.create(params)).resolves.toBeTruthy();
  });
});
