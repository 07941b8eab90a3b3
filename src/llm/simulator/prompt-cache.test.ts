import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from './index.js';

const MODEL = 'claude-sonnet-5-5';
const RUBRIC = 'Rubric: award points for accuracy and clarity. '.repeat(100); // 4700 chars = 1175 tokens
let clock = 1_000_000;
let sim: Simulator;
let client: Anthropic;

beforeAll(async () => {
  // Two ids the API does not serve, accepted here so the minimums table can be tested for them.
  sim = await startSimulator({ now: () => clock, models: ['claude-3-5-haiku-20241022', 'claude-made-up-1'] });
  client = new Anthropic({ apiKey: 'sk-ant-test-cache', baseURL: sim.url, maxRetries: 0 });
});
afterAll(() => sim.close());
beforeEach(() => sim.reset());

const ask = (question: string, ttl?: '5m' | '1h', system = RUBRIC) =>
  client.messages.create({
    model: MODEL,
    max_tokens: 100,
    system: [{ type: 'text', text: system, cache_control: ttl ? { type: 'ephemeral', ttl } : { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: question }],
  });

describe('prompt caching', () => {
  it('writes the prefix on first use and reads it on the next, keeping the total constant', async () => {
    const first = await ask('Question one?');
    const second = await ask('A different question?');
    const prefix = Math.ceil(RUBRIC.length / 4);
    expect(first.usage.cache_creation_input_tokens).toBe(prefix);
    expect(first.usage.cache_read_input_tokens).toBe(0);
    expect(second.usage.cache_creation_input_tokens).toBe(0);
    expect(second.usage.cache_read_input_tokens).toBe(prefix);
    const counted = await client.messages.countTokens({ model: MODEL, system: RUBRIC, messages: [{ role: 'user', content: 'A different question?' }] });
    const u = second.usage;
    expect(u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0)).toBe(counted.input_tokens);
    expect(sim.charges.map((c) => [c.cacheCreationInputTokens, c.cacheReadInputTokens])).toEqual([[prefix, 0], [0, prefix]]);
  });

  it('keys the cache on model and exact prefix content', async () => {
    await ask('q');
    const otherPrefix = await ask('q', undefined, RUBRIC + '!');
    expect(otherPrefix.usage.cache_read_input_tokens).toBe(0);
    const otherModel = await client.messages.create({
      model: 'claude-haiku-5-5',
      max_tokens: 10,
      system: [{ type: 'text', text: RUBRIC, cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'q' }],
    });
    expect(otherModel.usage.cache_read_input_tokens).toBe(0);
  });

  it('expires entries after their TTL, and a hit refreshes the TTL', async () => {
    await ask('q');
    clock += 4 * 60_000;
    expect((await ask('q')).usage.cache_read_input_tokens).toBeGreaterThan(0);
    clock += 4 * 60_000; // 8 min after the write but 4 after the refreshing hit
    expect((await ask('q')).usage.cache_read_input_tokens).toBeGreaterThan(0);
    clock += 5 * 60_000 + 1;
    const expired = await ask('q');
    expect(expired.usage.cache_read_input_tokens).toBe(0);
    expect(expired.usage.cache_creation_input_tokens).toBeGreaterThan(0);
  });

  it('honours the 1h TTL and reports it in cache_creation', async () => {
    const first = await ask('q', '1h');
    expect(first.usage.cache_creation?.ephemeral_1h_input_tokens).toBe(first.usage.cache_creation_input_tokens);
    clock += 30 * 60_000;
    expect((await ask('q', '1h')).usage.cache_read_input_tokens).toBeGreaterThan(0);
  });

  it('does not cache prefixes below the minimum cacheable length', async () => {
    await ask('q', undefined, 'short system prompt');
    const again = await ask('q', undefined, 'short system prompt');
    expect(again.usage.cache_creation_input_tokens).toBe(0);
    expect(again.usage.cache_read_input_tokens).toBe(0);
  });

  it("uses each model's documented minimum: Haiku 4.5 and Opus 4.5/4.6 need 4096 tokens, Sonnet 4.5/4.6 1024", async () => {
    const cachedOn = async (model: string, system: string) => {
      const first = await client.messages.create({ model, max_tokens: 10, system: [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: 'q' }] });
      return first.usage.cache_creation_input_tokens;
    };
    const long = 'Rubric: award points for accuracy. '.repeat(470); // 16450 chars = 4113 tokens
    // RUBRIC is 1175 tokens: enough for Sonnet, not for Haiku 4.5 or Opus 4.5/4.6.
    expect(await cachedOn('claude-sonnet-4-6', RUBRIC)).toBe(1175);
    expect(await cachedOn('claude-sonnet-4-5-20250929', RUBRIC)).toBe(1175);
    for (const model of ['claude-haiku-4-5', 'claude-haiku-4-5-20251001', 'claude-opus-4-5', 'claude-opus-4-6']) {
      expect(await cachedOn(model, RUBRIC)).toBe(0);
      expect(await cachedOn(model, long)).toBe(4113);
    }
    expect(await cachedOn('claude-3-5-haiku-20241022', RUBRIC)).toBe(0);
    // An unknown id gets the common 1024.
    expect(await cachedOn('claude-made-up-1', RUBRIC)).toBe(1175);
  });

  it('an explicit minCacheableTokens applies to every model', async () => {
    const everything = await startSimulator({ minCacheableTokens: 0 });
    try {
      const c = new Anthropic({ apiKey: 'sk-ant-test-cache', baseURL: everything.url, maxRetries: 0 });
      const r = await c.messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, system: [{ type: 'text', text: 'short system prompt', cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: 'q' }] });
      expect(r.usage.cache_creation_input_tokens).toBe(Math.ceil('short system prompt'.length / 4));
    } finally {
      await everything.close();
    }
  });

  it('reset() forgets cached prefixes', async () => {
    await ask('q');
    sim.reset();
    expect((await ask('q')).usage.cache_read_input_tokens).toBe(0);
  });

  it('top-level cache_control caches up to the last block', async () => {
    const body = { model: MODEL, max_tokens: 10, cache_control: { type: 'ephemeral' as const }, system: RUBRIC, messages: [{ role: 'user' as const, content: 'same question' }] };
    const first = await client.messages.create(body);
    const second = await client.messages.create(body);
    expect(first.usage.input_tokens).toBe(0);
    expect(second.usage.cache_read_input_tokens).toBe(first.usage.cache_creation_input_tokens);
  });
});

describe('prompt cache keys', () => {
  it('tell block boundaries apart, not only the concatenated text', async () => {
    const half = RUBRIC.slice(0, 2000);
    const rest = RUBRIC.slice(2000);
    const twoBlocks = (a: string, b: string) =>
      client.messages.create({
        model: MODEL,
        max_tokens: 10,
        system: [
          { type: 'text', text: a },
          { type: 'text', text: b, cache_control: { type: 'ephemeral' } },
        ],
        messages: [{ role: 'user', content: 'q' }],
      });
    await twoBlocks(half, rest);
    expect((await twoBlocks(half + rest.slice(0, 1), rest.slice(1))).usage.cache_read_input_tokens).toBe(0);
    expect((await twoBlocks(half, rest)).usage.cache_read_input_tokens).toBeGreaterThan(0);
  });

  it('include the output schema: a request asking for another schema misses the prefix, the same schema reads it', async () => {
    const schema = (field: string) => ({ type: 'object', properties: { [field]: { type: 'integer' } }, required: [field], additionalProperties: false });
    const graded = (field: string) =>
      client.messages.create({
        model: MODEL,
        max_tokens: 50,
        system: [{ type: 'text', text: RUBRIC, cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: 'q' }],
        output_config: { format: { type: 'json_schema', schema: schema(field) } },
      });
    const prefix = Math.ceil(RUBRIC.length / 4);
    expect((await graded('score')).usage.cache_creation_input_tokens).toBe(prefix);
    const other = await graded('points');
    expect(other.usage.cache_read_input_tokens).toBe(0);
    expect(other.usage.cache_creation_input_tokens).toBe(prefix);
    expect((await graded('score')).usage.cache_read_input_tokens).toBe(prefix);
    // Without a schema it is yet another prefix.
    expect((await ask('q')).usage.cache_read_input_tokens).toBe(0);
  });

  it('tell a plain string system prompt from the same text in a block', async () => {
    const body = (system: string | Anthropic.TextBlockParam[]) => ({ model: MODEL, max_tokens: 10, cache_control: { type: 'ephemeral' as const }, system, messages: [{ role: 'user' as const, content: 'q' }] });
    await client.messages.create(body(RUBRIC));
    expect((await client.messages.create(body([{ type: 'text', text: RUBRIC }]))).usage.cache_read_input_tokens).toBe(0);
  });
});
