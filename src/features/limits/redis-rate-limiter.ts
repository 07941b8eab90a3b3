import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  activeRequestWindows,
  DEFAULT_SLOT_LEASE_SEC,
  HOLDS_RETRY_SEC,
  HOLDS_WINDOW_SEC,
  LimiterUnavailableError,
  TOKEN_WINDOW_SEC,
  type LimitSpec,
  type LimitUsage,
  type RateLimiter,
  type SlotLease,
  type TokenReservation,
} from './limit-types.js';
import { createMemoryRateLimiter, heldReservation, noopReservation, refusedReservation } from './memory-rate-limiter.js';
import { buildDecision, type WindowState } from './rate-limit-headers.js';
import { defineLimitScripts } from './redis-limit-scripts.js';

export interface RedisRateLimiterOptions {
  /** key prefix; give each deployment (and each test file) its own */
  prefix?: string;
  /**
   * true (default): when Redis is unreachable, hitRequest fails OPEN onto a per-process
   * in-memory limiter (so each instance enforces the limits on its own share of traffic).
   * false: hitRequest throws LimiterUnavailableError and the caller decides.
   */
  insuranceLimiter?: boolean;
  /**
   * Upper bound on one limiter call, in ms (default 250). Belt and braces over the client's own
   * commandTimeout: a limiter must never make a request wait on a dead or stalled Redis.
   */
  timeoutMs?: number;
  slotLeaseSec?: number;
  /** observability hook, called for every backend failure (the limiter itself never logs) */
  onBackendError?: (operation: string, err: unknown) => void;
}

export interface RedisRateLimiter extends RateLimiter {
  /** false while the client is not connected or since the last call failed; true again after a success */
  redisHealthy(): boolean;
}

/**
 * Shared-state limiter for several instances. Every decision is one atomic Lua call
 * (see redis-limit-scripts.ts). The ioredis client must be created with
 * `enableOfflineQueue: false` and a `commandTimeout` (see README): otherwise commands issued
 * while disconnected queue up and replay later, e.g. holding tokens nobody will settle.
 */
export function createRedisRateLimiter(redis: Redis, opts: RedisRateLimiterOptions = {}): RedisRateLimiter {
  const prefix = opts.prefix ?? 'tg:rl';
  const timeoutMs = opts.timeoutMs ?? 250;
  const leaseMs = (opts.slotLeaseSec ?? DEFAULT_SLOT_LEASE_SEC) * 1000;
  const insurance = opts.insuranceLimiter === false ? undefined : createMemoryRateLimiter();
  const client = defineLimitScripts(redis);
  let failing = false;

  // {key} is a Redis Cluster hash tag: all of one principal's counters live in one slot,
  // which multi-key scripts require.
  const k = (key: string, suffix: string) => `${prefix}:{${key}}:${suffix}`;

  /**
   * Runs one backend call with a deadline. If the deadline wins but the call later succeeds,
   * `undoLate` gets its result so held resources can be given back.
   */
  async function call<T>(operation: string, run: () => Promise<T>, undoLate?: (late: T) => void): Promise<T> {
    // Not even sending when disconnected: a queued command would replay after reconnect.
    if (redis.status !== 'ready') return fail(operation, new Error(`redis status ${redis.status}`));
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const pending = run();
    try {
      const result = await Promise.race([
        pending,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            timedOut = true;
            reject(new Error(`timed out after ${timeoutMs}ms`));
          }, timeoutMs);
        }),
      ]);
      failing = false;
      return result;
    } catch (err) {
      if (timedOut && undoLate) pending.then(undoLate, () => {});
      else pending.catch(() => {});
      return fail(operation, err);
    } finally {
      clearTimeout(timer);
    }
  }

  function fail(operation: string, err: unknown): never {
    failing = true;
    opts.onBackendError?.(operation, err);
    throw new LimiterUnavailableError(operation, { cause: err });
  }

  // A settlement (or release) moves the day's tokens by `delta` and ends a hold of `held`.
  const adjust = (key: string, delta: number, held: number) =>
    call('settleTokens', () =>
      client.tgLimitAdjust2(k(key, 'tok'), k(key, 'tokheld'), String(delta), String(TOKEN_WINDOW_SEC * 1000), String(-held), String(HOLDS_WINDOW_SEC * 1000)),
    ).then(() => {});

  return {
    redisHealthy: () => redis.status === 'ready' && !failing,

    async hitRequest(key, spec) {
      const windows = activeRequestWindows(spec);
      if (windows.length === 0) return buildDecision([]);
      const args: string[] = windows.map(({ window }) => k(key, window.suffix));
      args.push('1');
      for (const { window, quota } of windows) args.push(String(quota), String(window.windowSec * 1000));
      let reply: number[];
      try {
        reply = await call('hitRequest', () => client.tgLimitHit(windows.length, ...args));
      } catch (err) {
        if (insurance) return { ...(await insurance.hitRequest(key, spec)), byStandIn: true };
        throw err;
      }
      const states: WindowState[] = windows.map(({ window, quota }, i) => ({
        window,
        quota,
        used: Number(reply[2 + 2 * i]),
        resetMs: Number(reply[3 + 2 * i]),
      }));
      return buildDecision(states, reply[0] === 1 ? undefined : states[Number(reply[1]) - 1]);
    },

    // Rare (a refusal after admission), so one adjust per window, in one script per window.
    // Only the backend that counted the request gives the point back: the in-process stand-in
    // if it decided, else Redis. If Redis cannot take the refund, the point stays spent (a
    // refund to the other backend would credit a request it never counted).
    async refundRequest(key, spec, admitted) {
      if (admitted.byStandIn) return insurance?.refundRequest(key, spec, admitted);
      const windows = activeRequestWindows(spec);
      await Promise.all(windows.map(({ window }) => call('refundRequest', () => client.tgLimitAdjust(k(key, window.suffix), '-1', String(window.windowSec * 1000))).catch(() => {})));
    },

    async reserveTokens(key, spec, estimate): Promise<TokenReservation> {
      const quota = spec.tokensPerDay;
      if (quota === undefined || !Number.isFinite(quota)) return noopReservation();
      const held = Math.max(0, Math.ceil(estimate));
      // The hold is counted twice in one step: in the day's tokens, and among the tokens of
      // calls in flight, so a refusal can tell the two apart.
      const reply = await call(
        'reserveTokens',
        () => client.tgLimitReserve(k(key, 'tok'), k(key, 'tokheld'), String(held), String(Math.floor(quota)), String(TOKEN_WINDOW_SEC * 1000), String(HOLDS_WINDOW_SEC * 1000)),
        // The caller already saw a failure and will not settle: give a late hold straight back.
        (late) => {
          if (late[0] === 1) void adjust(key, -held, held).catch(() => {});
        },
      );
      if (reply[0] !== 1) {
        // Only calls still in flight stand in the way: capacity comes back as they settle.
        if (Number(reply[1]) - Number(reply[3]) + held <= quota) return refusedReservation(HOLDS_RETRY_SEC);
        return refusedReservation(Math.ceil(Number(reply[2]) / 1000));
      }
      return heldReservation(held, (delta) => adjust(key, delta, held));
    },

    async acquireSlot(key, limit): Promise<SlotLease> {
      const slotKey = k(key, 'slot');
      const id = randomUUID();
      const giveBack = () => call('releaseSlot', () => client.zrem(slotKey, id)).then(() => {});
      const got = await call(
        'acquireSlot',
        () => client.tgLimitAcquire(slotKey, String(Math.max(0, Math.floor(limit))), String(leaseMs), id),
        (late) => {
          if (late === 1) void giveBack().catch(() => {});
        },
      );
      if (got !== 1) return { allowed: false, release: async () => {} };
      let released = false;
      return {
        allowed: true,
        async release() {
          if (released) return;
          released = true;
          // If Redis is down now, the lease TTL frees the slot; nothing more to do.
          await giveBack().catch(() => {});
        },
      };
    },

    async peek(key, spec): Promise<LimitUsage> {
      const windows = activeRequestWindows(spec);
      const hasTokens = spec.tokensPerDay !== undefined && Number.isFinite(spec.tokensPerDay);
      const hasSlot = spec.concurrent !== undefined && Number.isFinite(spec.concurrent);
      const keys = windows.map(({ window }) => k(key, window.suffix));
      if (hasTokens) keys.push(k(key, 'tok'));
      if (hasSlot) keys.push(k(key, 'slot'));
      if (keys.length === 0) return {};
      const reply = await call('peek', () => client.tgLimitPeek(keys.length, ...keys, hasSlot ? '1' : '0'));
      const out: LimitUsage = {};
      const at = (i: number, limit: number) => ({
        limit,
        remaining: Math.max(0, limit - Number(reply[2 * i])),
        resetSec: Math.ceil(Number(reply[2 * i + 1]) / 1000),
      });
      windows.forEach(({ window, quota }, i) => (out[window.limit] = at(i, quota)));
      if (hasTokens) out.tokensPerDay = at(windows.length, spec.tokensPerDay!);
      if (hasSlot) {
        const active = Number(reply[reply.length - 1]);
        out.concurrent = { limit: spec.concurrent!, remaining: Math.max(0, spec.concurrent! - active), resetSec: 0 };
      }
      return out;
    },

    // The client belongs to the caller (it may be shared), so close() leaves it open.
    async close() {
      await insurance?.close?.();
    },
  };
}
