export interface LimitSpec {
  requestsPerMinute?: number;
  requestsPerHour?: number;
  tokensPerDay?: number;
  concurrent?: number;
}
export type LimitName = keyof LimitSpec;

export interface LimitDecision {
  allowed: boolean;
  /** which limit refused */
  violated?: LimitName;
  /** 0 when allowed */
  retryAfterSec: number;
  /**
   * IETF httpapi ratelimit-headers draft (structured fields), for the tightest request window:
   * RateLimit-Policy: "minute";q=30;w=60, "hour";q=600;w=3600   RateLimit: "minute";r=12;t=40
   * plus Retry-After when refused.
   */
  headers: Record<string, string>;
  /** set when a shared-state limiter could not be reached and its in-process stand-in decided */
  byStandIn?: true;
}

export interface TokenReservation {
  allowed: boolean;
  retryAfterSec: number;
  /** corrects the held estimate to the actual usage (gives back or takes more); only the first settle/release counts */
  settle(actualTokens: number): Promise<void>;
  /** gives the whole estimate back (upstream call failed / not made) */
  release(): Promise<void>;
}

export interface SlotLease {
  allowed: boolean;
  /** idempotent */
  release(): Promise<void>;
}

export type LimitUsage = Partial<Record<LimitName, { limit: number; remaining: number; resetSec: number }>>;

export interface RateLimiter {
  /**
   * Consumes one request from each request window of `spec` for `key`. If any window refuses,
   * nothing is consumed from any window, so a refused request costs nothing.
   */
  hitRequest(key: string, spec: LimitSpec): Promise<LimitDecision>;
  /**
   * Gives back the point an admitted request took from each request window, for a request
   * refused after admission (its concurrency or token limit, a spent budget): a refused request
   * costs nothing. Best effort: a window that has reset since gives back to the new window.
   * `admitted` is the decision that let it in: only the backend that counted it gives it back.
   */
  refundRequest(key: string, spec: LimitSpec, admitted: LimitDecision): Promise<void>;
  /** holds `estimate` tokens against tokensPerDay before an upstream call */
  reserveTokens(key: string, spec: LimitSpec, estimate: number): Promise<TokenReservation>;
  /** concurrent in-flight calls; a holder that never releases loses its slot after the lease */
  acquireSlot(key: string, limit: number): Promise<SlotLease>;
  /** remaining counts without consuming, for GET /v1/me */
  peek(key: string, spec: LimitSpec): Promise<LimitUsage>;
  close?(): Promise<void>;
}

/**
 * Thrown by the Redis backend when it cannot reach Redis (or Redis is too slow) on a path
 * that must fail closed: reserveTokens, acquireSlot, peek, and hitRequest when insurance is off.
 */
export class LimiterUnavailableError extends Error {
  override readonly name = 'LimiterUnavailableError';
  constructor(
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super(`rate limiter backend unavailable during ${operation}`, options);
  }
}

/** Request windows in the order headers list them. */
export const REQUEST_WINDOWS = [
  { limit: 'requestsPerMinute', policy: 'minute', windowSec: 60, suffix: 'm' },
  { limit: 'requestsPerHour', policy: 'hour', windowSec: 3600, suffix: 'h' },
] as const satisfies ReadonlyArray<{ limit: LimitName; policy: string; windowSec: number; suffix: string }>;

export type RequestWindow = (typeof REQUEST_WINDOWS)[number];

export const TOKEN_WINDOW_SEC = 86_400;
/**
 * Tokens held by calls still in flight are also counted apart, until this long after the
 * latest hold (the slot lease: no call lives longer). A refusal that only the holds cause then says
 * "retry in HOLDS_RETRY_SEC" (they settle within seconds), not "in a day".
 */
export const HOLDS_WINDOW_SEC = 120;
export const HOLDS_RETRY_SEC = 1;
/**
 * A slot holder that crashed never calls release(); its lease lapses after this long.
 * Longer than any sane upstream LLM call, short enough that a crash costs a user minutes, not a day.
 */
export const DEFAULT_SLOT_LEASE_SEC = 120;

/** The request windows a spec actually configures (a missing or non-finite limit means unlimited). */
export function activeRequestWindows(spec: LimitSpec): Array<{ window: RequestWindow; quota: number }> {
  const out: Array<{ window: RequestWindow; quota: number }> = [];
  for (const window of REQUEST_WINDOWS) {
    const quota = spec[window.limit];
    if (quota !== undefined && Number.isFinite(quota)) out.push({ window, quota: Math.max(0, Math.floor(quota)) });
  }
  return out;
}
