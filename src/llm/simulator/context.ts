import { minCacheableTokens } from './cache-minimums.js';
import { Faults } from './fault-control.js';
import { ModelCatalog } from './models.js';
import { PromptCache } from './prompt-cache.js';
import { Script } from './script-control.js';
import type { ChargeRecord, RecordedRequest, SimulatorOptions, SimulatorStats } from './types.js';

export function emptyStats(): SimulatorStats {
  return { messages: 0, byModel: {}, streamed: 0, faulted: 0, invalid: 0, countTokens: 0, batchesCreated: 0, batchRequests: 0, charged: 0, chargedTokens: { input: 0, output: 0, cacheCreation: 0, cacheRead: 0 } };
}

/** State shared by the route handlers of one simulator instance. */
export class SimContext {
  readonly now: () => number;
  readonly cache: PromptCache;
  readonly models: ModelCatalog;
  readonly script = new Script();
  readonly faults = new Faults();
  readonly charges: ChargeRecord[] = [];
  readonly requests: RecordedRequest[] = [];
  stats: SimulatorStats = emptyStats();
  baseUrl = '';
  readonly batchDelayMs: number;
  readonly inferenceGeo: 'global' | 'us';
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly maxRequests: number;
  private readonly maxCharges: number;

  constructor(private readonly opts: SimulatorOptions) {
    this.now = opts.now ?? Date.now;
    // An explicit minimum applies to every model (0: cache everything); otherwise each model's own.
    const fixed = opts.minCacheableTokens;
    this.cache = new PromptCache(this.now, fixed === undefined ? minCacheableTokens : () => fixed);
    this.models = new ModelCatalog(opts.models);
    this.batchDelayMs = opts.batchDelayMs ?? 50;
    this.inferenceGeo = opts.inferenceGeo ?? 'global';
    this.maxRequests = opts.maxRecordedRequests ?? 100_000;
    this.maxCharges = opts.maxRecordedCharges ?? 100_000;
  }

  latency(override?: number): number {
    if (override !== undefined) return Math.max(0, override);
    const l = this.opts.latencyMs;
    if (l === undefined) return 0;
    if (typeof l === 'number') return Math.max(0, l);
    return Math.max(0, l.min + Math.random() * Math.max(0, l.max - l.min));
  }

  /** Timers are tracked so close() can cancel them instead of letting them fire on a dead server. */
  later(ms: number, fn: () => void): void {
    if (ms <= 0) {
      fn();
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  record(r: RecordedRequest): void {
    keepLast(this.requests, r, this.maxRequests);
  }

  charge(c: ChargeRecord): void {
    keepLast(this.charges, c, this.maxCharges);
    const t = this.stats.chargedTokens;
    this.stats.charged += 1;
    t.input += c.inputTokens;
    t.output += c.outputTokens;
    t.cacheCreation += c.cacheCreationInputTokens;
    t.cacheRead += c.cacheReadInputTokens;
  }

  cancelTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  reset(): void {
    this.script.clear();
    this.faults.clear();
    this.cache.clear();
    this.charges.length = 0;
    this.requests.length = 0;
    this.stats = emptyStats();
  }
}

// Appends, keeping the last `max` entries. Trims in batches: splicing on every push would
// make each one O(n).
function keepLast<T>(list: T[], item: T, max: number): void {
  if (max <= 0) return;
  list.push(item);
  if (list.length > max * 1.1) list.splice(0, list.length - max);
}
