import type { Redis } from 'ioredis';
import { userHash } from '../../platform/pseudonym.js';
import type { LimitName } from './limit-types.js';

export type LimitAbuseEvent =
  | { kind: 'user'; key: string; tier: string; rejections: number; windowSec: number; lastViolated?: LimitName }
  | { kind: 'tier'; tier: string; rejected: number; total: number; ratio: number; windowSec: number };

export interface LimitAbuseDetectorOptions {
  /** rejections of one user within a window that raise a user alert */
  threshold: number;
  windowSec: number;
  onAlert(event: LimitAbuseEvent): void;
  /** rejection ratio of a tier within a window that raises a tier alert (default 0.2) */
  tierRatioThreshold?: number;
  /** decisions a tier needs in a window before its ratio means anything (default 100) */
  tierMinDecisions?: number;
  now?: () => number;
  /**
   * One count of each user's rejections, and of each tier's decisions, for every instance:
   * the load balancer spreads requests, so counted per instance a user rejected 30 times by
   * 2 instances was 15 on each and never reached a threshold of 20, one rejected 40 times
   * alerted twice, and a tier's ratio was judged on each instance's share (N notices, or
   * none while no share had tierMinDecisions). The instance whose increment crosses the
   * threshold alerts, once. Redis failing falls back to this instance's own count.
   */
  shared?: { redis: Pick<Redis, 'multi' | 'defineCommand'>; prefix: string };
  /**
   * With `shared`, a tier's decisions and a user's rejections are added up here and sent to
   * Redis at most this often (default 1,000 ms): one call per tier, and per rejected user, per
   * interval, not one per request, whose limit decision is already a Redis round trip of its
   * own (a flood of 17,000 refusals a second would have doubled Redis's load). A notice comes
   * up to this much later than the decision that crossed the line.
   */
  flushMs?: number;
}

/**
 * KEYS[1]: the tier's hash for the window. ARGV: decisions, rejections (this instance's since
 * its last flush), ttlMs, minDecisions, ratio. Adds them and, at the flush that first finds the
 * ratio crossed, claims the window's notice: {1, rejected, total} to the one caller that
 * should send it, else {0, ...}.
 */
const TIER_DECISIONS = `
local total = redis.call('HINCRBY', KEYS[1], 'total', tonumber(ARGV[1]))
local rejected = redis.call('HINCRBY', KEYS[1], 'rejected', tonumber(ARGV[2]))
if total == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if total >= tonumber(ARGV[4]) and rejected / total > tonumber(ARGV[5])
  and redis.call('HSETNX', KEYS[1], 'alerted', '1') == 1 then
  return {1, rejected, total}
end
return {0, rejected, total}
`;

interface TierScript {
  tgAbuseTiers(key: string, total: string, rejected: string, ttlMs: string, minDecisions: string, ratio: string): Promise<[number, number, number]>;
}

interface TierCount {
  total: number;
  rejected: number;
}

export interface LimitAbuseDetector {
  observe(tier: string, key: string, decision: { allowed: boolean; violated?: LimitName }): void;
}

/**
 * Users and tiers are counted in Redis when `shared` is given (else, and while Redis fails,
 * here: each instance then judges its own share). Both are added up in process and sent once
 * per tier and rejected user every flushMs, awaited by no request. Fixed windows aligned to
 * windowSec; all state is dropped at each window boundary, so memory is bounded by the
 * number of distinct rejected users per window.
 */
export function createLimitAbuseDetector(opts: LimitAbuseDetectorOptions): LimitAbuseDetector {
  const now = opts.now ?? Date.now;
  const ratioThreshold = opts.tierRatioThreshold ?? 0.2;
  const minDecisions = opts.tierMinDecisions ?? 100;
  const windowMs = opts.windowSec * 1000;
  let windowId = -1;
  let users = new Map<string, { rejections: number; alerted: boolean }>();
  let tiers = new Map<string, { total: number; rejected: number; alerted: boolean }>();
  const shared = opts.shared && { ...opts.shared, redis: opts.shared.redis as unknown as Pick<Redis, 'multi'> & TierScript };
  opts.shared?.redis.defineCommand('tgAbuseTiers', { lua: TIER_DECISIONS, numberOfKeys: 1 });
  const flushMs = opts.flushMs ?? 1000;
  // Tier decisions not yet sent to Redis, by window id and tier ("<id>:<tier>").
  let unsent = new Map<string, TierCount & { id: number; tier: string }>();
  // Users' rejections not yet sent, by window id, tier and key.
  let unsentUsers = new Map<string, { id: number; tier: string; key: string; rejections: number; violated?: LimitName | undefined }>();
  let flushTimer: NodeJS.Timeout | undefined;

  const emit = (event: LimitAbuseEvent) => {
    // An alert sink that throws must not break the request path that observed the decision.
    try {
      opts.onAlert(event);
    } catch {
      /* ignored on purpose */
    }
  };

  return {
    observe(tier, key, decision) {
      const id = Math.floor(now() / windowMs);
      if (id !== windowId) {
        windowId = id;
        users = new Map();
        tiers = new Map();
      }
      if (shared) countTierForRedis(id, tier, decision.allowed);
      else countTierHere(tier, { total: 1, rejected: decision.allowed ? 0 : 1 });
      if (decision.allowed) return;
      if (shared) {
        countUserForRedis(id, tier, key, decision.violated);
        return;
      }
      countHere(tier, key, decision.violated);
    },
  };

  function countTierForRedis(id: number, tier: string, allowed: boolean): void {
    const k = `${id}:${tier}`;
    let c = unsent.get(k);
    if (!c) unsent.set(k, (c = { id, tier, total: 0, rejected: 0 }));
    c.total++;
    if (!allowed) c.rejected++;
    flushTimer ??= setTimeout(flush, flushMs).unref();
  }

  function countUserForRedis(id: number, tier: string, key: string, violated: LimitName | undefined): void {
    const k = `${id}\u0000${tier}\u0000${key}`;
    let c = unsentUsers.get(k);
    if (!c) unsentUsers.set(k, (c = { id, tier, key, rejections: 0 }));
    c.rejections++;
    c.violated = violated;
    flushTimer ??= setTimeout(flush, flushMs).unref();
  }

  function flush(): void {
    flushTimer = undefined;
    const { redis, prefix } = shared!;
    const userBatch = unsentUsers;
    unsentUsers = new Map();
    for (const c of userBatch.values()) {
      const name = `${prefix}:${c.id}:${c.tier}:${userHash(c.key)}`; // no raw user id in a Redis key name
      redis
        .multi()
        .incrby(name, c.rejections)
        .pexpire(name, windowMs * 2)
        .exec()
        .then(
          (res) => {
            // The instance whose increment took the count across the threshold sends the notice.
            const n = Number(res?.[0]?.[1]);
            if (n >= opts.threshold && n - c.rejections < opts.threshold) emit({ kind: 'user', key: c.key, tier: c.tier, rejections: n, windowSec: opts.windowSec, ...(c.violated ? { lastViolated: c.violated } : {}) });
          },
          () => c.id === windowId && countHere(c.tier, c.key, c.violated, c.rejections),
        );
    }
    const batch = unsent;
    unsent = new Map();
    for (const c of batch.values()) {
      shared!.redis
        .tgAbuseTiers(`${shared!.prefix}:tier:${c.id}:${c.tier}`, String(c.total), String(c.rejected), String(windowMs * 2), String(minDecisions), String(ratioThreshold))
        .then(
          ([alert, rejected, total]) => {
            if (Number(alert) === 1) emit({ kind: 'tier', tier: c.tier, rejected: Number(rejected), total: Number(total), ratio: Number(rejected) / Number(total), windowSec: opts.windowSec });
          },
          // Only the current window's counts are kept here (the map is dropped at its end).
          () => c.id === windowId && countTierHere(c.tier, c),
        );
    }
  }

  function countTierHere(tier: string, add: TierCount): void {
    let t = tiers.get(tier);
    if (!t) tiers.set(tier, (t = { total: 0, rejected: 0, alerted: false }));
    t.total += add.total;
    t.rejected += add.rejected;
    if (add.rejected === 0) return;
    if (!t.alerted && t.total >= minDecisions && t.rejected / t.total > ratioThreshold) {
      t.alerted = true;
      emit({ kind: 'tier', tier, rejected: t.rejected, total: t.total, ratio: t.rejected / t.total, windowSec: opts.windowSec });
    }
  }

  function countHere(tier: string, key: string, violated: LimitName | undefined, rejections = 1): void {
    const userKey = `${tier}\u0000${key}`;
    let u = users.get(userKey);
    if (!u) users.set(userKey, (u = { rejections: 0, alerted: false }));
    u.rejections += rejections;
    if (!u.alerted && u.rejections >= opts.threshold) {
      u.alerted = true;
      emit({
        kind: 'user',
        key,
        tier,
        rejections: u.rejections,
        windowSec: opts.windowSec,
        ...(violated ? { lastViolated: violated } : {}),
      });
    }
  }
}
