import { describe, expect, it } from 'vitest';
import { answerText, apiSchema, messageParams, parseJsonAnswer, repairTurns, systemParam } from './message-params.js';

describe('message params', () => {
  it('puts cache_control only on cached system blocks, at most 4, keeping the last ones', () => {
    const blocks = systemParam([
      { text: 'a', cache: '1h' },
      { text: 'b', cache: '1h' },
      { text: 'c', cache: '5m' },
      { text: 'd', cache: '5m' },
      { text: 'e', cache: '5m' },
      { text: 'f' },
    ]);
    expect(blocks.map((b) => b.cache_control?.ttl ?? null)).toEqual([null, '1h', '5m', '5m', '5m', null]);
  });

  it('asks for JSON through structured outputs, with no sampling knobs or forced tools', () => {
    const p = messageParams({ model: 'm', system: [], messages: [{ role: 'user', content: 'u' }], schema: { type: 'object' }, maxTokens: 9 });
    expect(p.output_config).toEqual({ format: { type: 'json_schema', schema: { type: 'object', properties: {}, additionalProperties: false } } });
    expect(Object.keys(p).sort()).toEqual(['max_tokens', 'messages', 'model', 'output_config', 'system']);
  });

  it('sends the schema in the subset structured outputs accept: unsupported bounds move into the description', () => {
    // The API answers 400 to minimum/maximum, maxLength, minItems > 1, maxItems, uniqueItems.
    const schema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      additionalProperties: false,
      required: ['confidence', 'ids', 'why'],
      properties: {
        confidence: { type: 'number', minimum: 0, maximum: 1 },
        ids: { type: 'array', items: { type: 'string', enum: ['a', 'b', 'c'] }, minItems: 3, maxItems: 3, uniqueItems: true },
        why: { type: 'string', maxLength: 600 },
      },
    };
    const sent = messageParams({ model: 'm', system: [], messages: [], schema, maxTokens: 9 }).output_config!.format!.schema as Record<string, any>;
    expect(sent).toEqual({
      type: 'object',
      additionalProperties: false,
      required: ['confidence', 'ids', 'why'],
      properties: {
        confidence: { type: 'number', description: '{minimum: 0, maximum: 1}' },
        ids: { type: 'array', items: { enum: ['a', 'b', 'c'] }, description: '{maxItems: 3, uniqueItems: true, minItems: 3}' },
        why: { type: 'string', description: '{maxLength: 600}' },
      },
    });
    // The feature's schema is left as it was, and the transform is made once per schema object.
    expect(schema.properties.confidence).toEqual({ type: 'number', minimum: 0, maximum: 1 });
    expect(apiSchema(schema)).toBe(sent);
  });

  it('repair turns replay the bad answer and list the problems', () => {
    const [a, u] = repairTurns('', ['level "x" does not exist', 'evidence not in the answer']);
    expect(a).toEqual({ role: 'assistant', content: '(empty answer)' });
    expect(u!.content).toContain('- level "x" does not exist\n- evidence not in the answer');
  });

  it('parses JSON answers, tolerating a Markdown fence', () => {
    expect(parseJsonAnswer(' {"a":1} ')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJsonAnswer('```json\n{"a":1}\n```')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJsonAnswer('{"a":')).toMatchObject({ ok: false });
    expect(parseJsonAnswer('')).toMatchObject({ ok: false, problem: expect.stringContaining('empty') });
  });

  it('joins text blocks only', () => {
    expect(answerText([{ type: 'thinking' }, { type: 'text', text: '{"a"' }, { type: 'text', text: ':1}' }])).toBe('{"a":1}');
  });
});
