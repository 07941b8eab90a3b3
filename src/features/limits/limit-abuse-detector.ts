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
}

export interface LimitAbuseDetector {
  observe(tier: string, key: string, decision: { allowed: boolean; violated?: LimitName }): void;
}

/**
 * In-process: each instance sees its share of traffic, which is enough to notice one user
 * hammering a limit or a tier whose limits are set too tight. Fixed windows aligned to
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
      let t = tiers.get(tier);
      if (!t) tiers.set(tier, (t = { total: 0, rejected: 0, alerted: false }));
      t.total++;
      if (decision.allowed) return;
      t.rejected++;
      if (!t.alerted && t.total >= minDecisions && t.rejected / t.total > ratioThreshold) {
        t.alerted = true;
        emit({ kind: 'tier', tier, rejected: t.rejected, total: t.total, ratio: t.rejected / t.total, windowSec: opts.windowSec });
      }
      const userKey = `${tier}\u0000${key}`;
      let u = users.get(userKey);
      if (!u) users.set(userKey, (u = { rejections: 0, alerted: false }));
      u.rejections++;
      if (!u.alerted && u.rejections >= opts.threshold) {
        u.alerted = true;
        emit({
          kind: 'user',
          key,
          tier,
          rejections: u.rejections,
          windowSec: opts.windowSec,
          ...(decision.violated ? { lastViolated: decision.violated } : {}),
        });
      }
    },
  };
}
