import { Faults } from './fault-control.js';
import { PromptCache } from './prompt-cache.js';
import { Script } from './script-control.js';
import type { ChargeRecord, RecordedRequest, SimulatorOptions, SimulatorStats } from './types.js';

export function emptyStats(): SimulatorStats {
  return { messages: 0, byModel: {}, streamed: 0, faulted: 0, invalid: 0, countTokens: 0, batchesCreated: 0, batchRequests: 0, charged: 0 };
}

/** State shared by the route handlers of one simulator instance. */
export class SimContext {
  readonly now: () => number;
  readonly cache: PromptCache;
  readonly script = new Script();
  readonly faults = new Faults();
  readonly charges: ChargeRecord[] = [];
  readonly requests: RecordedRequest[] = [];
  stats: SimulatorStats = emptyStats();
  baseUrl = '';
  readonly batchDelayMs: number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly maxRecorded: number;

  constructor(private readonly opts: SimulatorOptions) {
    this.now = opts.now ?? Date.now;
    this.cache = new PromptCache(this.now, opts.minCacheableTokens ?? 1024);
    this.batchDelayMs = opts.batchDelayMs ?? 50;
    this.maxRecorded = opts.maxRecordedRequests ?? 100_000;
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
    this.requests.push(r);
    // Trim in batches: splicing on every push would make each request O(n).
    if (this.requests.length > this.maxRecorded * 1.1) this.requests.splice(0, this.requests.length - this.maxRecorded);
  }

  charge(c: ChargeRecord): void {
    this.charges.push(c);
    this.stats.charged += 1;
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
