import Anthropic from '@anthropic-ai/sdk';
import { zodOutputFormat } from '@anthropic-ai/sdk/helpers/zod';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { generateFromSchema, startSimulator, type Simulator } from './index.js';

const ANSWER = 'Plants use sunlight, water and carbon dioxide to make glucose and release oxygen as a by-product.';
const PROMPT = `<question>What is photosynthesis?</question>\n<student_answer>${ANSWER}</student_answer>\nGrade it.`;

const Grade = z.object({
  score: z.number().min(0).max(10),
  level: z.int().min(1).max(4),
  verdict: z.enum(['correct', 'partial', 'incorrect']),
  tags: z.array(z.enum(['clarity', 'accuracy', 'depth', 'examples'])).min(2).max(3),
  evidence: z.array(z.object({ quote: z.string().min(5).max(60), note: z.string() })).min(1).max(3),
  rubricVersion: z.literal('v2'),
  passed: z.boolean(),
  comment: z.string().nullable(),
});

let sim: Simulator;
let client: Anthropic;
beforeAll(async () => {
  sim = await startSimulator();
  client = new Anthropic({ apiKey: 'sk-ant-test-structured', baseURL: sim.url, maxRetries: 0 });
});
afterAll(() => sim.close());

describe('structured outputs', () => {
  it('answers a zodOutputFormat request with JSON that zod accepts, quoting the student answer verbatim', async () => {
    const msg = await client.messages.parse({
      model: 'claude-opus-5-5',
      max_tokens: 1000,
      messages: [{ role: 'user', content: PROMPT }],
      output_config: { format: zodOutputFormat(Grade) },
    });
    const parsed = msg.parsed_output!;
    expect(Grade.parse(parsed)).toEqual(parsed);
    for (const e of parsed.evidence) expect(ANSWER).toContain(e.quote);
    expect(new Set(parsed.tags).size).toBe(parsed.tags.length);
    expect(msg.id).toMatch(/^msg_sim_/);
    // Schema-conforming JSON must not carry the plain-text marker.
    expect(msg.content[0]?.type === 'text' && msg.content[0].text.startsWith('{')).toBe(true);
  });

  it('is deterministic per request and varies across requests', async () => {
    const body = (content: string) => ({ model: 'claude-haiku-5-5', max_tokens: 1000, messages: [{ role: 'user' as const, content }], output_config: { format: zodOutputFormat(Grade) } });
    const a = await client.messages.create(body(PROMPT));
    const b = await client.messages.create(body(PROMPT));
    const c = await client.messages.create(body(PROMPT + ' Be strict.'));
    expect(a.content).toEqual(b.content);
    expect(a.content).not.toEqual(c.content);
  });

  it('returns scripted text verbatim so tests can feed invalid JSON to the parser', async () => {
    sim.script.enqueue({ text: '{"score": ' });
    const err = await client.messages
      .parse({ model: 'claude-haiku-5-5', max_tokens: 100, messages: [{ role: 'user', content: 'x' }], output_config: { format: zodOutputFormat(Grade) } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.AnthropicError);
    expect(String(err)).toMatch(/parse structured output/i);
  });

  // The API refuses a schema outside the structured-outputs subset rather than ignore the keyword.
  it.each([
    [{ n: { type: 'integer', minimum: 0 } }, "output_config.format.schema: For 'integer' type, property 'minimum' is not supported"],
    [{ n: { type: 'number', maximum: 1 } }, "For 'number' type, property 'maximum' is not supported"],
    [{ s: { type: 'string', maxLength: 600 } }, "For 'string' type, property 'maxLength' is not supported"],
    [{ a: { type: 'array', items: { type: 'string' }, minItems: 3 } }, "For 'array' type, property 'minItems' is not supported with value 3"],
    [{ a: { type: 'array', items: { type: 'string' }, maxItems: 3 } }, "For 'array' type, property 'maxItems' is not supported"],
    [{ a: { type: 'array', items: { type: 'string' }, uniqueItems: true } }, "For 'array' type, property 'uniqueItems' is not supported"],
    [{ o: { type: 'object', properties: {}, additionalProperties: true } }, "For 'object' type, 'additionalProperties' must be set to false"],
    [{ deep: { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'integer', multipleOf: 2 }] } } }, "property 'multipleOf' is not supported"],
  ])('answers 400 to an unsupported schema keyword (%j), on create and count_tokens', async (properties, message) => {
    const body = {
      model: 'claude-haiku-5-5',
      max_tokens: 500,
      messages: [{ role: 'user', content: 'hi' }],
      output_config: { format: { type: 'json_schema', schema: { type: 'object', properties, additionalProperties: false } } },
    };
    for (const path of ['/v1/messages', '/v1/messages/count_tokens']) {
      const r = await fetch(`${sim.url}${path}`, {
        method: 'POST',
        headers: { authorization: 'Bearer k', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(r.status).toBe(400);
      const err = (await r.json()) as { error: { type: string; message: string } };
      expect(err.error.type).toBe('invalid_request_error');
      expect(err.error.message).toContain(message);
    }
  });

  it('accepts what the SDK transform keeps: enum, const, anyOf, allOf, $ref, formats, minItems 0 or 1', async () => {
    const schema = {
      type: 'object',
      $defs: { tag: { type: 'string', enum: ['a', 'b'] } },
      properties: {
        t: { $ref: '#/$defs/tag' },
        c: { const: 'v2' },
        u: { anyOf: [{ type: 'string', format: 'uuid' }, { type: 'null' }] },
        l: { type: 'array', items: { type: 'string' }, minItems: 1, description: '{maxItems: 2}' },
      },
      required: ['t', 'c', 'u', 'l'],
      additionalProperties: false,
    };
    const msg = await client.messages.create({
      model: 'claude-haiku-5-5',
      max_tokens: 500,
      messages: [{ role: 'user', content: 'hi' }],
      output_config: { format: { type: 'json_schema', schema } },
    });
    const out = JSON.parse((msg.content[0] as { text: string }).text) as { l: string[] };
    expect(out.l.length).toBeGreaterThanOrEqual(1);
    expect(out.l.length).toBeLessThanOrEqual(2);
  });

  it('accepts the beta spelling output_format', async () => {
    const r = await fetch(`${sim.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: 'Bearer k', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'claude-haiku-5-5',
        max_tokens: 500,
        messages: [{ role: 'user', content: 'hi' }],
        output_format: { type: 'json_schema', schema: { type: 'object', properties: { n: { type: 'integer', description: '{minimum: 3, maximum: 3}' } }, required: ['n'], additionalProperties: false } },
      }),
    });
    const msg = (await r.json()) as { content: Array<{ text: string }> };
    expect(JSON.parse(msg.content[0]!.text)).toEqual({ n: 3 });
  });
});

describe('generateFromSchema', () => {
  const schema = {
    type: 'object',
    additionalProperties: false,
    required: ['kind', 'items', 'choice', 'ref', 'exclusive', 'step', 'short'],
    properties: {
      kind: { const: 'grade' },
      items: { type: 'array', uniqueItems: true, minItems: 3, maxItems: 5, items: { type: 'string', enum: ['a', 'b', 'c', 'd'] } },
      choice: { anyOf: [{ type: 'integer', minimum: 5, maximum: 6 }, { type: 'null' }] },
      ref: { $ref: '#/$defs/point' },
      exclusive: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
      step: { type: 'integer', minimum: 1, maximum: 20, multipleOf: 5 },
      short: { type: 'string', minLength: 2, maxLength: 4 },
      when: { type: 'string', format: 'date-time' },
    },
    $defs: { point: { type: 'object', required: ['x'], properties: { x: { type: 'boolean' } }, additionalProperties: false } },
  };

  it('conforms to the JSON schema for any seed and prompt', () => {
    const validator = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.string({ maxLength: 200 }), (seed, prompt) => {
        const value = generateFromSchema(schema, seed, prompt) as { items: string[] };
        expect(validator.safeParse(value).success).toBe(true);
        expect(new Set(value.items).size).toBe(value.items.length);
      }),
      { numRuns: 200 },
    );
  });

  it('draws strings verbatim from the preferred tag of the prompt', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (seed) => {
        const v = generateFromSchema({ type: 'object', required: ['q'], properties: { q: { type: 'string' } } }, seed, PROMPT) as { q: string };
        expect(ANSWER).toContain(v.q);
        const words = v.q.split(/\s+/).length;
        expect(words).toBeGreaterThanOrEqual(3);
        expect(words).toBeLessThanOrEqual(8);
      }),
      { numRuns: 100 },
    );
  });

  it('quotes a summary, not the ids and JSON around it, when the prompt has no answer (a learning path)', () => {
    const summary = 'Attempts so far: 4; recent accuracy 50%.\nEstimated mastery per skill:\nWhole-number operations: 52%\nFactors and multiples: 53%';
    const prompt = `Goal skill: none\n<learner_summary>\n${summary}\n</learner_summary>\n<candidates>\n[{"itemId":"factors-lesson","title":"Factors","score":0.93}]\n</candidates>`;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (seed) => {
        const v = generateFromSchema({ type: 'object', required: ['rationale'], properties: { rationale: { type: 'string', maxLength: 600 } } }, seed, prompt) as { rationale: string };
        expect(summary).toContain(v.rationale);
      }),
      { numRuns: 100 },
    );
  });
});
