import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from './index.js';

const MODEL = 'claude-sonnet-5-5';
let sim: Simulator;
let client: Anthropic;

beforeAll(async () => {
  sim = await startSimulator();
  client = new Anthropic({ apiKey: 'sk-ant-test-messages', baseURL: sim.url, maxRetries: 0 });
});
afterAll(() => sim.close());
beforeEach(() => sim.reset());

const ask = (content: string, extra: Record<string, unknown> = {}) =>
  client.messages.create({ model: MODEL, max_tokens: 200, messages: [{ role: 'user', content }], ...extra });

describe('POST /v1/messages via the real SDK', () => {
  it('answers with a deterministic simulated message and bills it by the documented formula', async () => {
    const prompt = 'Explain photosynthesis in one sentence.';
    const { data: msg, response } = await ask(prompt).withResponse();
    expect(msg.id).toMatch(/^msg_sim_/);
    expect(msg.model).toBe(MODEL);
    expect(msg.stop_reason).toBe('end_turn');
    const text = msg.content[0]?.type === 'text' ? msg.content[0].text : '';
    expect(text.startsWith('[simulated]')).toBe(true);
    expect(msg.usage.input_tokens).toBe(Math.ceil(prompt.length / 4));
    expect(msg.usage.output_tokens).toBe(Math.ceil(text.length / 4));
    expect(response.headers.get('x-simulated')).toBe('true');
    expect(response.headers.get('request-id')).toMatch(/^req_sim_/);
    expect(response.headers.get('anthropic-ratelimit-requests-limit')).toBeTruthy();
    expect(sim.charges).toEqual([
      expect.objectContaining({ id: msg.id, requestId: response.headers.get('request-id'), model: MODEL, batch: false, inputTokens: msg.usage.input_tokens, outputTokens: msg.usage.output_tokens }),
    ]);
    const again = await ask(prompt);
    expect(again.content).toEqual(msg.content);
  });

  it('streams the event sequence the SDK accumulates into the same usage as the charge', async () => {
    const stream = client.messages.stream({ model: MODEL, max_tokens: 300, messages: [{ role: 'user', content: 'Stream a longer answer please, with details '.repeat(5) }] });
    const types: string[] = [];
    stream.on('streamEvent', (e) => types.push(e.type));
    const final = await stream.finalMessage();
    expect(types[0]).toBe('message_start');
    expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(types.filter((t) => t === 'content_block_delta').length).toBeGreaterThan(1);
    const charge = sim.charges[0]!;
    expect(final.id).toBe(charge.id);
    expect(final.usage.input_tokens).toBe(charge.inputTokens);
    expect(final.usage.output_tokens).toBe(charge.outputTokens);
    expect(final.usage.cache_read_input_tokens).toBe(charge.cacheReadInputTokens);
    expect(final.stop_reason).toBe('end_turn');
    expect(sim.stats().streamed).toBe(1);
  });

  it('count_tokens agrees with the input tokens a message is billed', async () => {
    const params = { model: MODEL, system: 'You are a tutor.', messages: [{ role: 'user' as const, content: 'What is 2+2? '.repeat(10) }] };
    const counted = await client.messages.countTokens(params);
    const msg = await client.messages.create({ ...params, max_tokens: 50 });
    expect(counted.input_tokens).toBe(Math.ceil(('You are a tutor.'.length + 'What is 2+2? '.repeat(10).length) / 4));
    expect(msg.usage.input_tokens).toBe(counted.input_tokens);
    expect(sim.charges).toHaveLength(1);
  });

  it('caps output at max_tokens and reports stop_reason max_tokens', async () => {
    sim.script.enqueue({ text: 'word '.repeat(200) });
    const msg = await client.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    expect(msg.stop_reason).toBe('max_tokens');
    expect(msg.usage.output_tokens).toBe(5);
    expect(msg.content[0]?.type === 'text' && msg.content[0].text.length).toBe(20);
  });

  it('a scripted refusal or cut-off without text answers what the real API would: refusal text, or JSON cut mid-way', async () => {
    const output_config = { format: { type: 'json_schema' as const, schema: { type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' } }, required: ['a', 'b'], additionalProperties: false } } };
    const ask2 = () => client.messages.create({ model: MODEL, max_tokens: 500, messages: [{ role: 'user', content: 'Tell me about the water cycle in detail' }], output_config });
    const complete = await ask2();
    const text = (m: Anthropic.Message) => (m.content[0]?.type === 'text' ? m.content[0].text : '');
    expect(() => JSON.parse(text(complete))).not.toThrow();
    for (const stopReason of ['refusal', 'max_tokens', 'model_context_window_exceeded'] as const) {
      sim.script.enqueue({ stopReason });
      const m = await ask2();
      expect(m.stop_reason).toBe(stopReason);
      // The schema does not hold: a refusal is prose, a cut answer is half a JSON document.
      expect(() => JSON.parse(text(m))).toThrow();
      expect(m.usage.output_tokens).toBe(Math.ceil(text(m).length / 4));
    }
    expect(sim.charges).toHaveLength(4);
  });

  it('serves the scripted queue first-in first-out, then `when` rules, then the default', async () => {
    sim.script.when('algebra', { text: 'rule answer', stopReason: 'refusal' });
    sim.script.when((b) => (b.metadata as { user_id?: string } | undefined)?.user_id === 'u7', { text: 'predicate answer', raw: true });
    sim.script.enqueue({ text: 'first' });
    sim.script.enqueue({ json: { ok: true }, usage: { output_tokens: 99 } });
    const texts: string[] = [];
    const collect = (m: Anthropic.Message) => texts.push(m.content[0]?.type === 'text' ? m.content[0].text : '');
    collect(await ask('algebra question'));
    const second = await ask('algebra question');
    collect(second);
    const ruled = await ask('an algebra question');
    collect(ruled);
    collect(await ask('anything', { metadata: { user_id: 'u7' } }));
    collect(await ask('geometry'));
    expect(texts.slice(0, 4)).toEqual(['[simulated] first', '{"ok":true}', '[simulated] rule answer', 'predicate answer']);
    expect(texts[4]).toMatch(/^\[simulated\] Reply to "geometry"/);
    expect(second.usage.output_tokens).toBe(99);
    expect(sim.charges[1]!.outputTokens).toBe(99);
    expect(ruled.stop_reason).toBe('refusal');
    expect(sim.script.pending).toBe(0);
  });

  it('records every request with its parsed body but without credentials', async () => {
    await ask('record me');
    const rec = sim.requests.find((r) => r.path === '/v1/messages')!;
    expect(rec.method).toBe('POST');
    expect((rec.body as { messages: unknown[] }).messages).toEqual([{ role: 'user', content: 'record me' }]);
    expect(rec.headers['anthropic-version']).toBe('2026-10-21');
    expect(rec.headers.authorization).toBeUndefined();
    expect(JSON.stringify(rec)).not.toContain('sk-ant-test-messages');
  });

  it.each([
    ['temperature', { temperature: 0.2 }],
    ['top_p', { top_p: 0.9 }],
    ['top_k', { top_k: 5 }],
  ])('rejects the sampling parameter %s with 400 invalid_request_error', async (_name, extra) => {
    const err = await ask('hi', extra).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as APIError).type).toBe('invalid_request_error');
    expect(sim.charges).toHaveLength(0);
  });

  it('rejects more than 4 cache_control blocks over tools, system, messages and the top level, as the API does', async () => {
    const cc = { type: 'ephemeral' as const };
    const text = (t: string) => ({ type: 'text' as const, text: t, cache_control: cc });
    const body = {
      model: MODEL,
      max_tokens: 5,
      tools: [{ name: 't', input_schema: { type: 'object' as const }, cache_control: cc }],
      system: [text('a'), text('b')],
      messages: [{ role: 'user' as const, content: [text('c'), text('d')] }],
    };
    const err = await client.messages.create({ ...body, cache_control: cc }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as APIError).type).toBe('invalid_request_error');
    expect((err as APIError).message).toContain('A maximum of 4 blocks with cache_control may be provided. Found 6.');
    await expect(client.messages.countTokens({ ...body, cache_control: cc })).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    // 5 without the top-level one is still too many; 4 is fine.
    await expect(client.messages.create(body)).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(client.messages.create({ ...body, tools: [{ name: 't', input_schema: { type: 'object' } }] })).resolves.toBeTruthy();
    expect(sim.charges).toHaveLength(1);
  });

  it("reports usage.inference_geo on Opus/Sonnet 4.6 and later (the request's, else the workspace default), none on older models, which refuse the parameter", async () => {
    const geoOf = async (model: string, extra: Record<string, unknown> = {}, c = client) =>
      (await c.messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'x' }], ...extra })).usage.inference_geo;
    expect(await geoOf('claude-sonnet-4-6')).toBe('global');
    expect(await geoOf('claude-opus-4-6', { inference_geo: 'us' })).toBe('us');
    expect(await geoOf('claude-haiku-5-5')).toBe('global');
    for (const model of ['claude-haiku-4-5', 'claude-haiku-4-5-20251001', 'claude-sonnet-4-5', 'claude-opus-4-5-20251101']) expect(await geoOf(model)).toBeNull();
    await expect(geoOf('claude-haiku-4-5', { inference_geo: 'us' })).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(geoOf('claude-sonnet-4-6', { inference_geo: 'mars' })).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    const us = await startSimulator({ inferenceGeo: 'us' });
    try {
      const c = new Anthropic({ apiKey: 'k', baseURL: us.url, maxRetries: 0 });
      expect(await geoOf('claude-sonnet-4-6', {}, c)).toBe('us');
      expect(await geoOf('claude-sonnet-4-6', { inference_geo: 'global' }, c)).toBe('global');
      expect(await geoOf('claude-haiku-4-5', {}, c)).toBeNull();
      // A stream reports it in message_start, and the SDK keeps it through message_delta.
      expect((await c.messages.stream({ model: 'claude-sonnet-4-6', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).finalMessage()).usage.inference_geo).toBe('us');
    } finally {
      await us.close();
    }
  });

  it('refuses a top-level parameter the API does not know, naming it, as the API does rather than ignore it', async () => {
    const err = await client.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }], output_schema: { type: 'object' } } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as APIError).error).toMatchObject({ error: { type: 'invalid_request_error', message: 'output_schema: Extra inputs are not permitted' } });
    expect(sim.charges).toHaveLength(0);
    // What the SDK documents is accepted.
    const ok = await client.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }], metadata: { user_id: 'u1' }, stop_sequences: ['END'], service_tier: 'standard_only' });
    expect(ok.type).toBe('message');
  });

  it('refuses empty or blank text and a system role in messages, as the API does; an empty final assistant prefill is fine', async () => {
    const refused = async (extra: Record<string, unknown>) => {
      const err = await client.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }], ...extra } as never).catch((e: unknown) => e);
      expect(err, JSON.stringify(extra)).toBeInstanceOf(Anthropic.BadRequestError);
      return ((err as APIError).error as { error: { message: string } }).error.message;
    };
    expect(await refused({ messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] })).toBe('messages: text content blocks must be non-empty');
    expect(await refused({ messages: [{ role: 'user', content: '  \n' }] })).toBe('messages: text content blocks must contain non-whitespace text');
    expect(await refused({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: '' }, { role: 'user', content: 'again' }] })).toBe(
      'messages.1: all messages must have non-empty content except for the optional final assistant message',
    );
    expect(await refused({ system: [{ type: 'text', text: 'Grade.' }, { type: 'text', text: '' }] })).toBe('system: text content blocks must be non-empty');
    expect(await refused({ messages: [{ role: 'system', content: 'You grade.' }, { role: 'user', content: 'x' }] })).toBe("messages.0.role: Input should be 'user' or 'assistant'");
    await expect(client.messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: '' }] })).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    expect(sim.charges).toHaveLength(0);
    const prefilled = await client.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: '' }] });
    expect(prefilled.type).toBe('message');
  });

  it('rejects malformed requests and bad credentials with the API error shape', async () => {
    const post = (body: string, headers: Record<string, string> = { authorization: 'Bearer k', 'anthropic-version': '2023-06-01' }) =>
      fetch(`${sim.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const missingMax = await post(JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }));
    expect(missingMax.status).toBe(400);
    const bodyJson = (await missingMax.json()) as { type: string; error: { type: string }; request_id: string };
    expect(bodyJson.type).toBe('error');
    expect(bodyJson.error.type).toBe('invalid_request_error');
    expect(bodyJson.request_id).toBe(missingMax.headers.get('request-id'));
    expect((await post('{not json')).status).toBe(400);
    expect((await post(JSON.stringify({ model: MODEL, max_tokens: -1, messages: [{ role: 'user', content: 'x' }] }))).status).toBe(400);
    expect((await post(JSON.stringify([1, 2]))).status).toBe(400);
    const noAuth = await post('{}', {});
    expect(noAuth.status).toBe(401);
    expect(((await noAuth.json()) as { error: { type: string } }).error.type).toBe('authentication_error');
    const huge = await post('"' + 'x'.repeat(32 * 1024 * 1024 + 10) + '"');
    expect(huge.status).toBe(413);
    expect((await fetch(`${sim.url}/v1/nope`, { headers: { authorization: 'Bearer k', 'anthropic-version': '2023-06-01' } })).status).toBe(404);
    expect((await fetch(`${sim.url}/`)).status).toBe(200);
  });

  it('answers a model id the API does not serve with 404 not_found_error naming it, uncharged, everywhere a model is named', async () => {
    const typo = 'claude-haiku-4-5-20250101';
    const err = await client.messages.create({ model: typo, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect((err as APIError).error).toMatchObject({ type: 'error', error: { type: 'not_found_error', message: `model: ${typo}` } });
    expect((err as APIError).requestID).toMatch(/^req_sim_/);
    await expect(client.messages.stream({ model: typo, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).finalMessage()).rejects.toBeInstanceOf(Anthropic.NotFoundError);
    await expect(client.messages.countTokens({ model: typo, messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(Anthropic.NotFoundError);
    await expect(client.models.retrieve(typo)).rejects.toBeInstanceOf(Anthropic.NotFoundError);
    expect(sim.charges).toHaveLength(0);
    // The SDK's own list of ids is served, aliases and dated ids alike.
    for (const model of ['claude-haiku-4-5', 'claude-haiku-4-5-20251001', 'claude-sonnet-4-6', 'claude-opus-5-5']) {
      expect((await client.messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })).model).toBe(model);
    }
    expect((await client.models.retrieve('claude-sonnet-4-6')).id).toBe('claude-sonnet-4-6');
  });

  it('requires a well-formed anthropic-version header on /v1/*, as the API does', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${sim.url}/v1/messages`, { method: 'POST', headers: { authorization: 'Bearer k', 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }) });
    const missing = await post({});
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: 'anthropic-version: header is required' } });
    expect((await post({ 'anthropic-version': 'latest' })).status).toBe(400);
    expect((await post({ 'anthropic-version': '2023-13-01' })).status).toBe(400);
    expect(sim.charges).toHaveLength(0);
    expect(sim.stats().messages).toBe(0);
    // Any real-looking version is accepted; the SDK's own (2026-10-21) is checked by every other test here.
    expect((await post({ 'anthropic-version': '2023-06-01' })).status).toBe(200);
    expect((await fetch(`${sim.url}/`)).status).toBe(200);
  });

  it('enforces the configured api key', async () => {
    const locked = await startSimulator({ apiKey: 'sk-ant-right' });
    try {
      const wrong = new Anthropic({ apiKey: 'sk-ant-wrong', baseURL: locked.url, maxRetries: 0 });
      const err = await wrong.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
      const right = new Anthropic({ apiKey: 'sk-ant-right', baseURL: locked.url, maxRetries: 0 });
      await expect(right.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] })).resolves.toBeTruthy();
      const viaXApiKey = await fetch(`${locked.url}/v1/messages/count_tokens`, {
        method: 'POST',
        headers: { 'x-api-key': 'sk-ant-right', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'abcd' }] }),
      });
      expect(await viaXApiKey.json()).toEqual({ input_tokens: 1 });
    } finally {
      await locked.close();
    }
  });

  it('survives hostile bodies and keeps serving', async () => {
    const hostile = [
      '{"model":{},"messages":"x","max_tokens":1}',
      '{"model":"claude-haiku-5-5","max_tokens":1,"messages":[{"role":"user","content":[null,{"type":5}]}]}',
      '{"model":"claude-haiku-5-5","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":"zzz"}]}]}',
      '{"model":"claude-haiku-5-5","max_tokens":1,"messages":[{"role":"user","content":"x"}],"output_config":{"format":{"type":"json_schema","schema":{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/a"}}}}}}',
      '{"__proto__":{"x":1},"model":"claude-haiku-5-5","max_tokens":1e400,"messages":[]}',
    ];
    for (const body of hostile) {
      const r = await fetch(`${sim.url}/v1/messages`, { method: 'POST', headers: { authorization: 'Bearer k', 'anthropic-version': '2023-06-01' }, body });
      expect([200, 400]).toContain(r.status);
    }
    await expect(ask('still alive?')).resolves.toBeTruthy();
  });
});

describe('records under a limit', () => {
  it('keeps the last charges and requests within their limits, and the totals of all', async () => {
    const small = await startSimulator({ maxRecordedRequests: 3, maxRecordedCharges: 2 });
    const none = await startSimulator({ maxRecordedRequests: 0, maxRecordedCharges: 0 });
    try {
      for (const s of [small, none]) {
        const c = new Anthropic({ apiKey: 'sk-ant-test-records', baseURL: s.url, maxRetries: 0 });
        const answers = [];
        for (let i = 0; i < 12; i++) answers.push(await c.messages.create({ model: MODEL, max_tokens: 50, messages: [{ role: 'user', content: `question ${i} ${'x'.repeat(i)}` }] }));
        const stats = s.stats();
        expect(stats.charged).toBe(12);
        expect(stats.chargedTokens.input).toBe(answers.reduce((n, a) => n + a.usage.input_tokens, 0));
        expect(stats.chargedTokens.output).toBe(answers.reduce((n, a) => n + a.usage.output_tokens, 0));
        expect(stats.chargedTokens.cacheRead + stats.chargedTokens.cacheCreation).toBe(0);
      }
      expect(small.charges.length).toBeGreaterThanOrEqual(2);
      expect(small.charges.length).toBeLessThanOrEqual(3);
      expect(small.charges.at(-1)!.inputTokens).toBe(Math.ceil('question 11 xxxxxxxxxxx'.length / 4));
      expect(small.requests.length).toBeLessThanOrEqual(4);
      expect((small.requests.at(-1)!.body as { messages: { content: string }[] }).messages[0]!.content).toBe('question 11 xxxxxxxxxxx');
      expect(none.charges).toEqual([]);
      expect(none.requests).toEqual([]);
    } finally {
      await Promise.all([small.close(), none.close()]);
    }
  });
});
