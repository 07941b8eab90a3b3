import { createHash, type Hash } from 'node:crypto';
import { tokensForChars, totalInputTokens, withoutCacheControl, type CacheTtl, type Segment } from './usage.js';

export interface CacheUsage {
  inputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
  creation5m: number;
  creation1h: number;
}

const TTL_MS: Record<CacheTtl, number> = { '5m': 5 * 60_000, '1h': 60 * 60_000 };

interface Breakpoint {
  hash: string;
  tokens: number;
  ttl: CacheTtl;
}

// What identifies a block for the cache, as [form, text]: the block without its
// cache_control. A plain string or a text block is its text (the common case, hashed as it
// is, not re-encoded); anything else is its JSON.
function blockIdentity(block: unknown): [form: 's' | 't' | 'j', text: string] {
  if (typeof block === 'string') return ['s', block];
  const b = block as Record<string, unknown> | null;
  if (b?.type === 'text' && typeof b.text === 'string' && !Array.isArray(b) && Object.keys(b).every((k) => k === 'type' || k === 'text' || k === 'cache_control')) return ['t', b.text];
  return ['j', JSON.stringify(withoutCacheControl(block)) ?? ''];
}

// Each field goes in with its form and length in front, so that no two different sequences
// of fields feed the hash the same bytes.
const feed = (hash: Hash, form: string, field: string) => hash.update(`${form}${field.length}:`).update(field);

/**
 * Prefix cache keyed by a hash over model + output schema + segments, so two requests share an
 * entry exactly when everything up to the breakpoint is identical (cache_control itself
 * excluded) and they ask for the same schema.
 */
export class PromptCache {
  private readonly entries = new Map<string, number>();
  private calls = 0;

  constructor(
    private readonly now: () => number,
    private readonly minTokensFor: (model: string) => number,
  ) {}

  account(model: string, segments: Segment[]): CacheUsage {
    const total = totalInputTokens(segments);
    const breakpoints = this.breakpoints(model, segments);
    if (breakpoints.length === 0) {
      return { inputTokens: total, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, creation5m: 0, creation1h: 0 };
    }
    const now = this.now();
    if (++this.calls % 1000 === 0) this.prune(now);

    let readIdx = -1;
    for (let i = breakpoints.length - 1; i >= 0; i--) {
      const expiresAt = this.entries.get(breakpoints[i]!.hash);
      if (expiresAt !== undefined && expiresAt > now) {
        readIdx = i;
        break;
      }
    }
    const read = readIdx >= 0 ? breakpoints[readIdx]!.tokens : 0;
    let creation5m = 0;
    let creation1h = 0;
    let prev = read;
    for (let i = readIdx + 1; i < breakpoints.length; i++) {
      const bp = breakpoints[i]!;
      const delta = Math.max(0, bp.tokens - prev);
      if (bp.ttl === '1h') creation1h += delta;
      else creation5m += delta;
      prev = Math.max(prev, bp.tokens);
    }
    // A hit refreshes the entry's lifetime, as on the real API.
    for (const bp of breakpoints) this.entries.set(bp.hash, now + TTL_MS[bp.ttl]);

    const created = creation5m + creation1h;
    return {
      inputTokens: Math.max(0, total - read - created),
      cacheCreationInputTokens: created,
      cacheReadInputTokens: read,
      creation5m,
      creation1h,
    };
  }

  clear(): void {
    this.entries.clear();
  }

  // One running hash over the model and the segments; a breakpoint's key is the digest of
  // everything up to it. Segments after the last breakpoint cannot change a key and are
  // not hashed.
  private breakpoints(model: string, segments: Segment[]): Breakpoint[] {
    let last = -1;
    for (let i = 0; i < segments.length; i++) if (segments[i]!.ttl) last = i;
    if (last < 0) return [];
    const out: Breakpoint[] = [];
    const minTokens = this.minTokensFor(model);
    const hash = feed(createHash('sha1'), 'm', model);
    // The API renders a structured-output schema into the prompt ahead of the cached content, so
    // a different schema misses a prefix the same tools and system would otherwise hit (as
    // reported for Claude on Bedrock). It goes into every key; its tokens stay outside the
    // cached prefix (README, Token formula).
    const schema = segments.at(-1)?.section === 'output_format' ? segments.at(-1)! : undefined;
    if (schema) feed(hash, 'o', JSON.stringify(schema.block));
    let chars = 0;
    for (let i = 0; i <= last; i++) {
      const s = segments[i]!;
      chars += s.chars;
      feed(feed(hash, 'p', s.section), 'r', s.role ?? '');
      feed(hash, ...blockIdentity(s.block));
      if (!s.ttl) continue;
      const tokens = tokensForChars(chars);
      if (tokens > 0 && tokens >= minTokens) out.push({ hash: hash.copy().digest('base64'), tokens, ttl: s.ttl });
    }
    return out;
  }

  private prune(now: number): void {
    for (const [k, expiresAt] of this.entries) if (expiresAt <= now) this.entries.delete(k);
  }
}
