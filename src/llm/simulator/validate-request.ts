import { supportsInferenceGeo } from './models.js';
import { unsupportedSchemaFeature } from './schema-support.js';
import type { JsonObject } from './types.js';

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

// The current API rejects sampling parameters outright; clients must not send them.
const REJECTED_PARAMS = ['temperature', 'top_p', 'top_k'] as const;

// The API caches at most 4 prefixes per request and refuses more breakpoints outright rather
// than pick some: a client that sends 5 must learn it, not silently lose caching.
const MAX_CACHE_BREAKPOINTS = 4;

const marked = (v: unknown): boolean => isObject(v) && v.cache_control != null;

// Breakpoints over tools, system and every message's blocks, plus the top-level
// cache_control (automatic caching), which takes one of the same 4 slots.
function cacheBreakpoints(body: JsonObject): number {
  const inList = (list: unknown) => (Array.isArray(list) ? list.filter(marked).length : 0);
  let n = body.cache_control != null ? 1 : 0;
  n += inList(body.tools) + inList(body.system);
  for (const m of body.messages as unknown[]) if (isObject(m)) n += inList(m.content);
  return n;
}

// The API refuses empty and whitespace-only text, in a block or as a whole string content, with
// the section's name only (no index), except as the final assistant message (a prefill).
function emptyTextError(text: string, section: string): string | undefined {
  if (text === '') return `${section}: text content blocks must be non-empty`;
  if (text.trim() === '') return `${section}: text content blocks must contain non-whitespace text`;
  return undefined;
}

function contentError(content: unknown, where: string, section: string, prefill = false): string | undefined {
  if (typeof content === 'string') {
    if (prefill) return undefined;
    if (content === '') return `${where.replace(/\.content$/, '')}: all messages must have non-empty content except for the optional final assistant message`;
    return emptyTextError(content, section);
  }
  if (!Array.isArray(content)) return `${where}: Input should be a valid string or list of content blocks`;
  for (let i = 0; i < content.length; i++) {
    const block: unknown = content[i];
    if (!isObject(block) || typeof block.type !== 'string') return `${where}.${i}: Input should be a content block with a type`;
    if (block.type === 'text' && typeof block.text !== 'string') return `${where}.${i}.text: Field required`;
    if (block.type === 'text' && !prefill) {
      const empty = emptyTextError(block.text as string, section);
      if (empty) return empty;
    }
    const cc = block.cache_control;
    if (cc != null && (!isObject(cc) || cc.type !== 'ephemeral' || (cc.ttl !== undefined && cc.ttl !== '5m' && cc.ttl !== '1h'))) {
      return `${where}.${i}.cache_control: Input should be {type: 'ephemeral', ttl?: '5m' | '1h'}`;
    }
  }
  return undefined;
}

// The body parameters @anthropic-ai/sdk 1.x sends (MessageCreateParams, MessageCountTokensParams),
// plus the beta surface's (`output_format` among them, accepted like output_config). The API
// refuses any other top-level key rather than ignore it, so a misspelt parameter fails here too.
const COMMON_PARAMS = ['model', 'messages', 'cache_control', 'output_config', 'speed', 'system', 'thinking', 'tool_choice', 'tools', 'user_profile_id', 'workspace_id'];
const BETA_PARAMS = ['output_format', 'context_management', 'mcp_servers'];
// count_tokens takes fewer, but is given the same set: callers count a request they are about to
// send, and whether the API refuses its create-only fields there is not documented.
const ALLOWED = new Set([...COMMON_PARAMS, ...BETA_PARAMS, ...REJECTED_PARAMS, 'max_tokens', 'container', 'diagnostics', 'inference_geo', 'metadata', 'service_tier', 'stop_sequences', 'stream']);

/** Returns the 400 message, or undefined when the request is acceptable. */
export function validateMessageRequest(body: unknown, kind: 'create' | 'count_tokens'): string | undefined {
  if (!isObject(body)) return 'Request body must be a JSON object';
  for (const key of Object.keys(body)) if (!ALLOWED.has(key)) return `${key}: Extra inputs are not permitted`;
  if (typeof body.model !== 'string' || body.model.length === 0) return 'model: Field required';
  if (!Array.isArray(body.messages)) return 'messages: Field required';
  if (body.messages.length === 0) return 'messages: at least one message is required';
  for (let i = 0; i < body.messages.length; i++) {
    const m: unknown = body.messages[i];
    if (!isObject(m)) return `messages.${i}: Input should be an object`;
    // A system prompt goes in the top-level `system`, never in a message.
    if (m.role !== 'user' && m.role !== 'assistant') return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    const prefill = m.role === 'assistant' && i === body.messages.length - 1;
    const err = contentError(m.content, `messages.${i}.content`, 'messages', prefill);
    if (err) return err;
  }
  if (body.system !== undefined) {
    const err = typeof body.system === 'string' ? undefined : contentError(body.system, 'system', 'system');
    if (err) return err;
  }
  if (body.tools !== undefined && !Array.isArray(body.tools)) return 'tools: Input should be a valid list';
  const config = body.output_config;
  if (config !== undefined && config !== null) {
    if (!isObject(config)) return 'output_config: Input should be an object';
    const format = config.format;
    if (format != null && (!isObject(format) || format.type !== 'json_schema' || !isObject(format.schema))) {
      return "output_config.format: Input should be {type: 'json_schema', schema: object}";
    }
    if (isObject(format)) {
      const err = unsupportedSchemaFeature(format.schema as JsonObject, 'output_config.format.schema');
      if (err) return err;
    }
  }
  // The beta surface's name for the same thing, checked the same way.
  const beta = body.output_format;
  if (isObject(beta) && isObject(beta.schema)) {
    const err = unsupportedSchemaFeature(beta.schema, 'output_format.schema');
    if (err) return err;
  }
  const geo = body.inference_geo;
  if (geo != null) {
    if (geo !== 'global' && geo !== 'us') return "inference_geo: Input should be 'global' or 'us'";
    if (!supportsInferenceGeo(body.model)) return `inference_geo: is not supported by model ${body.model}`;
  }
  const breakpoints = cacheBreakpoints(body);
  if (breakpoints > MAX_CACHE_BREAKPOINTS) return `A maximum of ${MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found ${breakpoints}.`;
  if (kind === 'count_tokens') return undefined;

  const max = body.max_tokens;
  if (max === undefined) return 'max_tokens: Field required';
  // 0 is legal: it pre-warms the prompt cache without generating anything.
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 0) return 'max_tokens: Input should be a non-negative integer';
  for (const p of REJECTED_PARAMS) {
    if (body[p] !== undefined) return `${p}: Extra inputs are not permitted; sampling parameters are not supported`;
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean') return 'stream: Input should be a valid boolean';
  const stops = body.stop_sequences;
  if (stops !== undefined && (!Array.isArray(stops) || stops.some((s) => typeof s !== 'string'))) {
    return 'stop_sequences: Input should be a list of strings';
  }
  return undefined;
}
