import { randomUUID } from 'node:crypto';
import {
  activeRequestWindows,
  DEFAULT_SLOT_LEASE_SEC,
  HOLDS_RETRY_SEC,
  HOLDS_WINDOW_SEC,
  TOKEN_WINDOW_SEC,
  type LimitDecision,
  type LimitSpec,
  type LimitUsage,
  type RateLimiter,
  type SlotLease,
  type TokenReservation,
} from './limit-types.js';
import { buildDecision, type WindowState } from './rate-limit-headers.js';

interface Counter {
  used: number;
  resetAt: number;
}

export interface MemoryRateLimiterOptions {
  now?: () => number;
  slotLeaseSec?: number;
}

// Sweeping costs O(keys); doing it every N writes keeps it amortised O(1) per decision
// without a timer (timers would keep the process alive and fight the injected clock).
const SWEEP_EVERY_WRITES = 4096;

/**
 * In-process backend: fixed windows that open on the first hit (same semantics as the Redis
 * backend and rate-limiter-flexible). Written by hand rather than on RateLimiterMemory because
 * the check-all-windows-then-commit decision must be atomic (no refund dance) and the clock must
 * be injectable for tests. Single-threaded JS makes each synchronous decision atomic.
 */
export function createMemoryRateLimiter(opts: MemoryRateLimiterOptions = {}): RateLimiter {
  const now = opts.now ?? Date.now;
  const leaseMs = (opts.slotLeaseSec ?? DEFAULT_SLOT_LEASE_SEC) * 1000;
  const counters = new Map<string, Counter>();
  const slots = new Map<string, Map<string, number>>();
  let writes = 0;

  const current = (k: string, t: number): Counter | undefined => {
    const c = counters.get(k);
    return c && c.resetAt > t ? c : undefined;
  };

  const add = (k: string, points: number, windowSec: number, t: number): void => {
    const c = current(k, t);
    if (c) c.used = Math.max(0, c.used + points);
    else if (points > 0) counters.set(k, { used: points, resetAt: t + windowSec * 1000 });
    if (++writes % SWEEP_EVERY_WRITES === 0) sweep(t);
  };

  const sweep = (t: number): void => {
    for (const [k, c] of counters) if (c.resetAt <= t) counters.delete(k);
    for (const [k, holders] of slots) {
      for (const [id, exp] of holders) if (exp <= t) holders.delete(id);
      if (holders.size === 0) slots.delete(k);
    }
  };

  const liveHolders = (k: string, t: number): Map<string, number> | undefined => {
    const holders = slots.get(k);
    if (!holders) return undefined;
    for (const [id, exp] of holders) if (exp <= t) holders.delete(id);
    return holders;
  };

  const hitRequestSync = (key: string, spec: LimitSpec): LimitDecision => {
    const t = now();
    const windows = activeRequestWindows(spec);
    const states: WindowState[] = [];
    let refused: WindowState | undefined;
    for (const { window, quota } of windows) {
      const c = current(`rq:${key}:${window.suffix}`, t);
      const state: WindowState = {
        window,
        quota,
        used: c?.used ?? 0,
        resetMs: c ? c.resetAt - t : window.windowSec * 1000,
      };
      // Of the windows that refuse, the one that resets last says when a retry can pass.
      if (state.used + 1 > quota && (!refused || state.resetMs > refused.resetMs)) refused = state;
      states.push(state);
    }
    if (refused) return buildDecision(states, refused);
    for (const state of states) {
      add(`rq:${key}:${state.window.suffix}`, 1, state.window.windowSec, t);
      state.used += 1;
    }
    return buildDecision(states);
  };

  const limiter: RateLimiter = {
    async hitRequest(key, spec) {
      return hitRequestSync(key, spec);
    },

    async refundRequest(key, spec) {
      const t = now();
      for (const { window } of activeRequestWindows(spec)) add(`rq:${key}:${window.suffix}`, -1, window.windowSec, t);
    },

    async reserveTokens(key, spec, estimate) {
      const quota = spec.tokensPerDay;
      const held = Math.max(0, Math.ceil(estimate));
      const k = `tok:${key}`;
      const kh = `tokheld:${key}`;
      if (quota === undefined || !Number.isFinite(quota)) return noopReservation();
      const t = now();
      const c = current(k, t);
      const used = c?.used ?? 0;
      if (used + held > quota) {
        // Only calls still in flight stand in the way: capacity comes back as they settle.
        if (used - (current(kh, t)?.used ?? 0) + held <= quota) return refusedReservation(HOLDS_RETRY_SEC);
        return refusedReservation(c ? Math.ceil((c.resetAt - t) / 1000) : TOKEN_WINDOW_SEC);
      }
      add(k, held, TOKEN_WINDOW_SEC, t);
      add(kh, held, HOLDS_WINDOW_SEC, t);
      // The holds window slides with every hold: it lapses only when no call is in flight.
      const holds = current(kh, t);
      if (holds) holds.resetAt = t + HOLDS_WINDOW_SEC * 1000;
      return heldReservation(held, async (delta) => {
        add(k, delta, TOKEN_WINDOW_SEC, now());
        add(kh, -held, HOLDS_WINDOW_SEC, now());
      });
    },

    async acquireSlot(key, limit): Promise<SlotLease> {
      const t = now();
      const holders = liveHolders(key, t) ?? new Map<string, number>();
      if (holders.size >= limit) return { allowed: false, release: async () => {} };
      const id = randomUUID();
      holders.set(id, t + leaseMs);
      slots.set(key, holders);
      if (++writes % SWEEP_EVERY_WRITES === 0) sweep(t);
      return {
        allowed: true,
        async release() {
          slots.get(key)?.delete(id);
        },
      };
    },

    async peek(key, spec) {
      const t = now();
      const out: LimitUsage = {};
      for (const { window, quota } of activeRequestWindows(spec)) {
        const c = current(`rq:${key}:${window.suffix}`, t);
        out[window.limit] = usage(quota, c, t);
      }
      if (spec.tokensPerDay !== undefined && Number.isFinite(spec.tokensPerDay)) {
        out.tokensPerDay = usage(spec.tokensPerDay, current(`tok:${key}`, t), t);
      }
      if (spec.concurrent !== undefined && Number.isFinite(spec.concurrent)) {
        const active = liveHolders(key, t)?.size ?? 0;
        out.concurrent = { limit: spec.concurrent, remaining: Math.max(0, spec.concurrent - active), resetSec: 0 };
      }
      return out;
    },

    async close() {
      counters.clear();
      slots.clear();
    },
  };
  return limiter;
}

/** resetSec is 0 when no window is open (nothing used, nothing to wait for). */
function usage(limit: number, c: Counter | undefined, t: number) {
  return {
    limit,
    remaining: Math.max(0, limit - (c?.used ?? 0)),
    resetSec: c ? Math.ceil((c.resetAt - t) / 1000) : 0,
  };
}

// An allowed hold of `held` tokens: settle() corrects it to the actual use, release()
// gives it all back; only the first of the two counts.
export function heldReservation(held: number, adjust: (delta: number) => Promise<void>): TokenReservation {
  let done = false;
  return {
    allowed: true,
    retryAfterSec: 0,
    async settle(actualTokens) {
      if (done) return;
      done = true;
      await adjust(Math.max(0, Math.ceil(actualTokens)) - held);
    },
    async release() {
      if (done) return;
      done = true;
      await adjust(-held);
    },
  };
}

export function noopReservation(): TokenReservation {
  return { allowed: true, retryAfterSec: 0, settle: async () => {}, release: async () => {} };
}

export function refusedReservation(retryAfterSec: number): TokenReservation {
  return { allowed: false, retryAfterSec: Math.max(1, retryAfterSec), settle: async () => {}, release: async () => {} };
}
