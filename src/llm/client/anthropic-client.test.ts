// Wire-level details the simulator deliberately hides (it strips auth headers from its records).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnthropicClient } from './anthropic-client.js';

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

function client(onCall?: () => void) {
  const errors: object[] = [];
  const c = createAnthropicClient({
    apiKey: KEY,
    baseURL: url,
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
