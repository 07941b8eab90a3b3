import { hashText, newMessageId, seedFrom } from './ids.js';
import { supportsInferenceGeo } from './models.js';
import type { PromptCache } from './prompt-cache.js';
import { generateFromSchema } from './structured-output.js';
import type { ChargeRecord, JsonObject, ScriptedResponse, SimStopReason } from './types.js';
import { CHARS_PER_TOKEN, lastUserText, outputSchemaOf, outputTokensFor, requestSegments } from './usage.js';

export const SIM_PREFIX = '[simulated]';

export interface BuiltMessage {
  message: JsonObject;
  text: string;
  charge: ChargeRecord;
}

export interface BuildOptions {
  cache: PromptCache;
  now: () => number;
  requestId: string;
  batch: boolean;
  /** The workspace's default_inference_geo, for requests that name none. */
  inferenceGeo: 'global' | 'us';
}

function defaultText(body: JsonObject): string {
  const words = lastUserText(body).split(/\s+/).filter(Boolean);
  const gist = words.slice(0, 12).join(' ') + (words.length > 12 ? ' …' : '');
  return `${SIM_PREFIX} Reply to "${gist}" (${words.length} words in the last user turn).`;
}

// A refusal takes precedence over the output schema: the real API then returns the model's
// refusal text, which is not the JSON the schema describes (structured outputs docs, "Refusals").
export const REFUSAL_TEXT = `${SIM_PREFIX} I can't help with that request.`;

function answerText(body: JsonObject, scripted: ScriptedResponse | undefined, schema: JsonObject | undefined): string {
  if (scripted?.json !== undefined) return JSON.stringify(scripted.json);
  if (scripted?.text !== undefined) {
    if (schema || scripted.raw || scripted.text.startsWith(SIM_PREFIX)) return scripted.text;
    return `${SIM_PREFIX} ${scripted.text}`;
  }
  if (scripted?.stopReason === 'refusal') return REFUSAL_TEXT;
  if (schema) {
    const seed = seedFrom(hashText(JSON.stringify([body.model, body.system ?? null, body.messages, schema])));
    return JSON.stringify(generateFromSchema(schema, seed, lastUserText(body)));
  }
  return defaultText(body);
}

export function buildMessage(body: JsonObject, scripted: ScriptedResponse | undefined, opts: BuildOptions): BuiltMessage {
  const model = String(body.model);
  const maxTokens = typeof body.max_tokens === 'number' ? body.max_tokens : 0;
  const cacheUsage = opts.cache.account(model, requestSegments(body));
  const schema = outputSchemaOf(body);

  let text = answerText(body, scripted, schema);
  let outputTokens = outputTokensFor(text);
  let stopReason: SimStopReason = 'end_turn';
  if (outputTokens > maxTokens) {
    text = text.slice(0, maxTokens * CHARS_PER_TOKEN);
    outputTokens = maxTokens;
    stopReason = 'max_tokens';
  }
  if (scripted?.stopReason) {
    // A scripted cut-off with no scripted text cuts the default answer, as the real limit would:
    // structured JSON stopped mid-way is not valid JSON.
    const cut = scripted.stopReason === 'max_tokens' || scripted.stopReason === 'model_context_window_exceeded';
    if (cut && stopReason !== 'max_tokens' && scripted.text === undefined && scripted.json === undefined && text.length > 1) {
      text = text.slice(0, Math.ceil(text.length / 2));
      outputTokens = outputTokensFor(text);
    }
    stopReason = scripted.stopReason;
  }
  const stopSequences = Array.isArray(body.stop_sequences) ? (body.stop_sequences as string[]) : [];

  const o = scripted?.usage ?? {};
  const inputTokens = o.input_tokens ?? cacheUsage.inputTokens;
  outputTokens = o.output_tokens ?? outputTokens;
  const creation = o.cache_creation_input_tokens ?? cacheUsage.cacheCreationInputTokens;
  const read = o.cache_read_input_tokens ?? cacheUsage.cacheReadInputTokens;
  const id = newMessageId();

  const message: JsonObject = {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content: maxTokens === 0 && text === '' ? [] : [{ type: 'text', text, citations: null }],
    stop_reason: stopReason,
    stop_sequence: stopReason === 'stop_sequence' ? (stopSequences[0] ?? '\n\nHuman:') : null,
    stop_details: stopReason === 'refusal' ? { type: 'refusal', category: null, explanation: null } : null,
    container: null,
    diagnostics: null,
    usage: {
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      cache_creation_input_tokens: creation,
      cache_read_input_tokens: read,
      cache_creation: {
        ephemeral_5m_input_tokens: o.cache_creation_input_tokens !== undefined ? creation : cacheUsage.creation5m,
        ephemeral_1h_input_tokens: o.cache_creation_input_tokens !== undefined ? 0 : cacheUsage.creation1h,
      },
      // Where inference ran, which decides the price on the models that report it (US-only costs more).
      inference_geo: supportsInferenceGeo(model) ? (body.inference_geo === 'us' || body.inference_geo === 'global' ? body.inference_geo : opts.inferenceGeo) : null,
      output_tokens_details: null,
      server_tool_use: null,
      service_tier: opts.batch ? 'batch' : 'standard',
      speed: null,
    },
  };
  const charge: ChargeRecord = {
    id,
    requestId: opts.requestId,
    model,
    inputTokens,
    outputTokens,
    cacheCreationInputTokens: creation,
    cacheReadInputTokens: read,
    batch: opts.batch,
    at: opts.now(),
  };
  return { message, text, charge };
}
