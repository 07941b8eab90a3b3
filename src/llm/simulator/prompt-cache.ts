import { createHash } from 'node:crypto';
import { tokensForChars, totalInputTokens, type CacheTtl, type Segment } from './usage.js';

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

function stableBlock(block: unknown): unknown {
  if (typeof block !== 'object' || block === null || Array.isArray(block) || !('cache_control' in block)) return block;
  const { cache_control: _ignored, ...rest } = block as Record<string, unknown>;
  return rest;
}

/**
 * Prefix cache keyed by a hash chain over model + segments, so two requests share an entry
 * exactly when everything up to the breakpoint is identical (cache_control itself excluded).
 */
export class PromptCache {
  private readonly entries = new Map<string, number>();
  private calls = 0;

  constructor(
    private readonly now: () => number,
    private readonly minTokens: number,
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

  private breakpoints(model: string, segments: Segment[]): Breakpoint[] {
    if (!segments.some((s) => s.ttl)) return [];
    const out: Breakpoint[] = [];
    let chain = createHash('sha1').update(model).digest('hex');
    let chars = 0;
    for (const s of segments) {
      chars += s.chars;
      chain = createHash('sha1')
        .update(chain)
        .update(JSON.stringify([s.section, s.role ?? null, stableBlock(s.block)]) ?? '')
        .digest('hex');
      if (!s.ttl) continue;
      const tokens = tokensForChars(chars);
      if (tokens > 0 && tokens >= this.minTokens) out.push({ hash: chain, tokens, ttl: s.ttl });
    }
    return out;
  }

  private prune(now: number): void {
    for (const [k, expiresAt] of this.entries) if (expiresAt <= now) this.entries.delete(k);
  }
}
