// Wire-level details the simulator deliberately hides (it strips auth headers from its records).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnthropicClient } from './anthropic-client.js';
import type { LlmError } from './llm-error.js';

const KEY = 'sk-ant-.api03-LOCALTESTKEY-0123456789abcdef-77aa';
let server: Server;
let url: string;
const seen: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({
        id: 'msg_local',
        type: 'message',
        role: 'assistant',
        model: 'm',
        content: [{ type: 'text', text: '{"ok":true}' }],
        stop_reason: 'end_turn',
        usage: { input_tokens: 5, output_tokens: 3, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_local' }).end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function client(onCall?: () => void, fetch?: typeof globalThis.fetch) {
  const errors: object[] = [];
  const c = createAnthropicClient({
    apiKey: KEY,
    baseURL: url,
    ...(fetch ? { fetch } : {}),
    models: { default: 'claude-haiku-5-5' },
    timeoutsMs: {},
    retry: { maxRetries: 0, maxTotalMs: 1000, baseDelayMs: 1 },
    breaker: { failureThreshold: 3, openMs: 1000, halfOpenProbes: 1 },
    concurrency: { maxInFlight: 1, maxQueued: 0, queueTimeoutMs: 10 },
    ...(onCall ? { onCall } : {}),
    logger: { warn: () => {}, error: (o) => errors.push(o) },
  });
  return { c, errors };
}

const req = { feature: 'x', system: [], user: 'u', schema: { type: 'object' }, parse: (raw: unknown) => ({ ok: true as const, value: raw }), maxTokens: 10 };

describe('wire format', () => {
  it('sends the key as a Bearer token with API version 2026-10-21 and reads request-id', async () => {
    const res = await client().c.structured(req);
    const h = seen.at(-1)!;
    expect(h.authorization).toBe(`Bearer ${KEY}`);
    expect(h['anthropic-version']).toBe('2026-10-21');
    expect(h['x-api-key']).toBeUndefined();
    expect(res.calls[0]).toMatchObject({ requestId: 'req_local', messageId: 'msg_local', usage: { inputTokens: 5, outputTokens: 3 } });
  });

  it('a throwing onCall hook does not fail the call', async () => {
    const { c, errors } = client(() => {
      throw new Error('metrics down');
    });
    expect((await c.structured(req)).value).toEqual({ ok: true });
    expect(errors).toEqual([expect.objectContaining({ event: 'llm_on_call_failed' })]);
  });

  it('a rotated key is used for the next call and fingerprinted', async () => {
    const { c } = client();
    const next = 'sk-ant-.api03-ROTATEDKEY-fedcba9876543210-55bb';
    c.setApiKey(next);
    await c.structured(req);
    expect(seen.at(-1)!.authorization).toBe(`Bearer ${next}`);
    expect(c.keyFingerprint()).toMatch(/^sk-ant-…55bb /);
    c.setApiKey(null);
    expect(c.available()).toBe(false);
  });

  it('an unknown feature without a default model is a configuration error, not an upstream one', () => {
    const c = createAnthropicClient({ apiKey: KEY, models: { grading: 'm' }, timeoutsMs: {}, retry: { maxRetries: 0, maxTotalMs: 1, baseDelayMs: 1 }, breaker: { failureThreshold: 1, openMs: 1, halfOpenProbes: 1 }, concurrency: { maxInFlight: 1, maxQueued: 0, queueTimeoutMs: 1 } });
    expect(c.modelFor('grading')).toBe('m');
    expect(() => c.modelFor('paths')).toThrow('no model configured for LLM feature "paths"');
  });
});

describe('a stream that ends before message_stop', () => {
  const sse = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  const start = sse('message_start', {
    type: 'message_start',
    message: {
      id: 'msg_cut', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, stop_sequence: null,
      usage: { input_tokens: 500, output_tokens: 1, cache_creation_input_tokens: 40, cache_read_input_tokens: 300, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 40 } },
    },
  });
  const block = sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
    sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: '{"ok":' } });
  const delta = sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 7 } });

  // A proxy (or the API's edge) that closes the response properly mid-answer: no network
  // error, the SDK only finds that no message arrived. message_start had reported the usage.
  it.each([
    ['after a content delta', start + block, 1],
    ['after its message_delta', start + block + delta, 7],
  ])('%s still records what the stream had reported', async (_name, body, outputTokens) => {
    const ended = (async () => new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream', 'request-id': 'req_cut' } })) as typeof fetch;
    const { c } = client(undefined, ended);
    const err = await c.structured({ ...req, stream: true }).then(
      () => expect.fail('a stream without message_stop is not an answer'),
      (e: LlmError) => e,
    );
    expect(err.code).toBe('upstream_unavailable');
    expect(err.calls).toEqual([
      expect.objectContaining({
        attempts: 1,
        requestId: 'req_cut',
        usage: { inputTokens: 500, outputTokens, cacheWrite5mTokens: 0, cacheWrite1hTokens: 40, cacheReadTokens: 300 },
      }),
    ]);
  });
});
