// Builds Messages API bodies. Kept apart from the client so prompt shape (cache breakpoints,
// repair turn) can be unit-tested without a server.
import type { MessageCreateParamsNonStreaming, MessageParam, TextBlockParam } from '@anthropic-ai/sdk/resources/messages';
import { transformJSONSchema } from '@anthropic-ai/sdk/lib/transform-json-schema';
import type { SystemBlock } from './types.js';

// The API accepts at most 4 cache breakpoints per request.
const MAX_BREAKPOINTS = 4;

export function systemParam(system: readonly SystemBlock[]): TextBlockParam[] {
  const marked = system.flatMap((b, i) => (b.cache ? [i] : []));
  // Keep the last ones: a later breakpoint caches the whole prefix before it anyway.
  const keep = new Set(marked.slice(-MAX_BREAKPOINTS));
  return system.map((b, i) => {
    const block: TextBlockParam = { type: 'text', text: b.text };
    if (b.cache && keep.has(i)) block.cache_control = { type: 'ephemeral', ttl: b.cache };
    return block;
  });
}

// Structured outputs accept a subset of JSON Schema and answer 400 to a schema with anything
// else in it (minimum/maximum, minLength/maxLength, maxItems, uniqueItems, minItems above 1,
// ...): a feature's hand-written schema with `confidence: {minimum: 0, maximum: 1}` would fail
// every call and send every user to the rules. The SDK's own transform (what zodOutputFormat
// uses) keeps the supported keywords and moves the rest into the description, where the model
// still reads them; the feature's `parse` checks them. Schemas are built once per rubric or
// catalog and reused, so the result is kept per schema object.
const apiSchemas = new WeakMap<object, Record<string, unknown>>();

export function apiSchema(schema: Record<string, unknown>): Record<string, unknown> {
  let out = apiSchemas.get(schema);
  if (!out) apiSchemas.set(schema, (out = transformJSONSchema(schema)));
  return out;
}

export function messageParams(args: {
  model: string;
  system: readonly SystemBlock[];
  messages: MessageParam[];
  schema: Record<string, unknown>;
  maxTokens: number;
}): MessageCreateParamsNonStreaming {
  return {
    model: args.model,
    max_tokens: args.maxTokens,
    system: systemParam(args.system),
    messages: args.messages,
    // Structured outputs, not a forced tool_choice: the newest models reject forced tools.
    output_config: { format: { type: 'json_schema', schema: apiSchema(args.schema) } },
  };
}

/** The follow-up turns for the one repair attempt: the bad answer, then what is wrong with it. */
export function repairTurns(badAnswer: string, problems: readonly string[]): MessageParam[] {
  const listed = problems.slice(0, 20).map((p) => `- ${p}`).join('\n');
  return [
    // The API rejects empty assistant text blocks.
    { role: 'assistant', content: badAnswer.trim() === '' ? '(empty answer)' : badAnswer },
    {
      role: 'user',
      content:
        `Your previous answer cannot be used. Problems:\n${listed}\n\n` +
        'Answer again with one JSON object that matches the schema and fixes every problem above. ' +
        'Keep everything that was already correct.',
    },
  ];
}

/** Joined text blocks of an answer. */
export function answerText(content: ReadonlyArray<{ type: string; text?: string }>): string {
  let out = '';
  for (const b of content) if (b.type === 'text' && typeof b.text === 'string') out += b.text;
  return out;
}

/** JSON.parse that tolerates a Markdown fence some models still add around JSON. */
export function parseJsonAnswer(text: string): { ok: true; value: unknown } | { ok: false; problem: string } {
  let t = text.trim();
  const fenced = /^```(?:json)?\s*\n([\s\S]*?)\n?```$/.exec(t);
  if (fenced) t = fenced[1]!.trim();
  if (t === '') return { ok: false, problem: 'the answer was empty; a JSON object was expected' };
  try {
    return { ok: true, value: JSON.parse(t) };
  } catch (e) {
    return { ok: false, problem: `the answer is not valid JSON (${(e as Error).message})` };
  }
}
