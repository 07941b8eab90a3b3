import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { AnthropicClient, SystemBlock } from '../../llm/client/types.js';

// Conservative local estimate, so that a budget reservation is an upper bound.
// Tokenizers average about 4 characters a token on English text; 3 leaves headroom.
// Other scripts take far more: Chinese or Japanese run near a token per character and
// rare characters and emoji several, where chars/3 would reserve a third of the cost.
// A byte-level tokenizer never spends more tokens on a character than its UTF-8 bytes,
// so every character outside ASCII is counted at its byte length.
export function localTokenEstimate(text: string): number {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes === text.length) return Math.ceil(text.length / 3); // ASCII only
  let ascii = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x80) ascii++;
  return Math.ceil(ascii / 3) + (bytes - ascii);
}

// Pre-flight input estimate for budget reservations. The static prefix (system prompt,
// rubric or catalog block, output schema) is most of every prompt and repeats, so it is
// counted once with the count_tokens endpoint and remembered; only the short per-request
// part is estimated locally. When count_tokens is unavailable the client answers with its
// own local estimate, so this never blocks a call.
export class InputTokenEstimator {
  private readonly prefixes = new LRUCache<string, number>({ max: 10_000 });
  private readonly counting = new Map<string, Promise<number>>();
  // The last prefix counted for a schema object: a feature that reuses its schema object
  // and system texts (grading does, per rubric version) skips hashing the prefix.
  private readonly bySchema = new WeakMap<object, { feature: string; texts: string[]; prefix: number }>();

  constructor(private readonly llm: Pick<AnthropicClient, 'countTokens'>) {}

  async estimate(feature: string, system: SystemBlock[], user: string, schema: Record<string, unknown>): Promise<number> {
    const seen = this.bySchema.get(schema);
    if (seen && seen.feature === feature && seen.texts.length === system.length && system.every((b, i) => b.text === seen.texts[i])) {
      return seen.prefix + localTokenEstimate(user) + 16;
    }
    const prefix = await this.prefixOf(feature, system, schema);
    this.bySchema.set(schema, { feature, texts: system.map((b) => b.text), prefix });
    return prefix + localTokenEstimate(user) + 16;
  }

  private async prefixOf(feature: string, system: SystemBlock[], schema: Record<string, unknown>): Promise<number> {
    const key = createHash('sha256')
      .update(feature)
      .update('\0')
      .update(system.map((s) => s.text).join('\0'))
      .update('\0')
      .update(JSON.stringify(schema))
      .digest('base64url');
    let prefix = this.prefixes.get(key);
    if (prefix === undefined) {
      // Concurrent first requests for one prefix share a single count_tokens call.
      let counting = this.counting.get(key);
      if (!counting) {
        counting = this.count(feature, system, schema).finally(() => this.counting.delete(key));
        this.counting.set(key, counting);
      }
      prefix = await counting;
      this.prefixes.set(key, prefix);
    }
    return prefix;
  }

  private async count(feature: string, system: SystemBlock[], schema: Record<string, unknown>): Promise<number> {
    const counted = await this.llm.countTokens(feature, system, '.', schema);
    const local = localTokenEstimate(system.map((s) => s.text).join('') + JSON.stringify(schema));
    // never below the local bound: a wrong count must not shrink a reservation
    return Math.max(counted, Math.ceil(local * 0.75));
  }
}
