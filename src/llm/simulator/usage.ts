import type { JsonObject } from './types.js';

export type CacheTtl = '5m' | '1h';

/** One cacheable unit of the prompt, in the order the API builds its prefix: tools, system, messages. */
export interface Segment {
  section: 'tools' | 'system' | 'messages' | 'output_format';
  role?: string;
  block: unknown;
  chars: number;
  ttl?: CacheTtl;
}

export const CHARS_PER_TOKEN = 4;

export function tokensForChars(chars: number): number {
  return Math.ceil(chars / CHARS_PER_TOKEN);
}

export function outputTokensFor(text: string): number {
  return Math.max(1, tokensForChars(text.length));
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export function withoutCacheControl(block: unknown): unknown {
  if (!isObject(block) || !('cache_control' in block)) return block;
  const { cache_control: _ignored, ...rest } = block;
  return rest;
}

function ttlOf(block: unknown): CacheTtl | undefined {
  if (!isObject(block) || !isObject(block.cache_control)) return undefined;
  return block.cache_control.ttl === '1h' ? '1h' : '5m';
}

export function blockChars(block: unknown): number {
  if (typeof block === 'string') return block.length;
  if (!isObject(block)) return 0;
  if (block.type === 'text' && typeof block.text === 'string') return block.text.length;
  if (block.type === 'tool_result') {
    const c = block.content;
    if (typeof c === 'string') return c.length;
    if (Array.isArray(c)) return c.reduce<number>((n, b) => n + blockChars(b), 0);
    return 0;
  }
  // Images, documents, tool_use and the like: their JSON size is a stable, if crude, proxy.
  return JSON.stringify(withoutCacheControl(block)).length;
}

export function outputSchemaOf(body: JsonObject): JsonObject | undefined {
  const config = body.output_config;
  const fromConfig = isObject(config) ? config.format : undefined;
  // `output_format` is the beta surface's name for the same thing.
  const format = isObject(fromConfig) ? fromConfig : body.output_format;
  if (isObject(format) && format.type === 'json_schema' && isObject(format.schema)) return format.schema;
  return undefined;
}

export function requestSegments(body: JsonObject): Segment[] {
  const out: Segment[] = [];
  if (Array.isArray(body.tools)) {
    for (const tool of body.tools) {
      out.push({ section: 'tools', block: tool, chars: JSON.stringify(withoutCacheControl(tool) ?? null).length, ttl: ttlOf(tool) });
    }
  }
  pushContent(out, 'system', undefined, body.system);
  if (Array.isArray(body.messages)) {
    for (const m of body.messages) {
      if (isObject(m)) pushContent(out, 'messages', String(m.role), m.content);
    }
  }
  // Top-level cache_control marks the last cacheable block, which is why it is applied before the schema.
  const last = out.at(-1);
  if (last && isObject(body.cache_control) && !last.ttl) {
    last.ttl = body.cache_control.ttl === '1h' ? '1h' : '5m';
  }
  const schema = outputSchemaOf(body);
  if (schema) out.push({ section: 'output_format', block: schema, chars: JSON.stringify(schema).length });
  return out;
}

function pushContent(out: Segment[], section: 'system' | 'messages', role: string | undefined, content: unknown): void {
  if (typeof content === 'string') {
    out.push({ section, role, block: content, chars: content.length });
  } else if (Array.isArray(content)) {
    for (const block of content) out.push({ section, role, block, chars: blockChars(block), ttl: ttlOf(block) });
  }
}

export function totalInputTokens(segments: Segment[]): number {
  let chars = 0;
  for (const s of segments) chars += s.chars;
  return Math.max(1, tokensForChars(chars));
}

/** All prompt text concatenated, used by `script.when(substring)` and the default answers. */
export function promptText(body: JsonObject): string {
  const parts: string[] = [];
  collectText(body.system, parts);
  if (Array.isArray(body.messages)) {
    for (const m of body.messages) if (isObject(m)) collectText(m.content, parts);
  }
  return parts.join('\n');
}

export function lastUserText(body: JsonObject): string {
  if (!Array.isArray(body.messages)) return '';
  for (let i = body.messages.length - 1; i >= 0; i--) {
    const m: unknown = body.messages[i];
    if (isObject(m) && m.role === 'user') {
      const parts: string[] = [];
      collectText(m.content, parts);
      return parts.join('\n');
    }
  }
  return '';
}

function collectText(content: unknown, parts: string[]): void {
  if (typeof content === 'string') parts.push(content);
  else if (Array.isArray(content)) {
    for (const b of content) {
      if (isObject(b) && b.type === 'text' && typeof b.text === 'string') parts.push(b.text);
      else if (isObject(b) && b.type === 'tool_result') collectText(b.content, parts);
    }
  }
}
