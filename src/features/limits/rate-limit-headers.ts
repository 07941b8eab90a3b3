import type { LimitDecision, LimitName, RequestWindow } from './limit-types.js';

export interface WindowState {
  window: RequestWindow;
  quota: number;
  /** points used in the current window after this decision */
  used: number;
  /** ms until the current window resets */
  resetMs: number;
}

const toSec = (ms: number): number => Math.max(0, Math.ceil(ms / 1000));

/**
 * Formats the IETF httpapi ratelimit-headers draft (structured-field) headers.
 * RateLimit-Policy lists every configured request window so clients can plan;
 * RateLimit reports only the tightest window (fewest remaining, then soonest reset, or
 * the latest when none is left),
 * because that is the one a client will hit first. A refusal reports the refusing window
 * and adds Retry-After, which every HTTP client understands.
 */
export function formatRateLimitHeaders(states: readonly WindowState[], refused?: WindowState): Record<string, string> {
  if (states.length === 0) return {};
  const policy = states.map((s) => `"${s.window.policy}";q=${s.quota};w=${s.window.windowSec}`).join(', ');
  const tightest = refused ?? pickTightest(states);
  const remaining = refused ? 0 : Math.max(0, tightest.quota - tightest.used);
  const headers: Record<string, string> = {
    'RateLimit-Policy': policy,
    RateLimit: `"${tightest.window.policy}";r=${remaining};t=${toSec(tightest.resetMs)}`,
  };
  if (refused) headers['Retry-After'] = String(Math.max(1, toSec(refused.resetMs)));
  return headers;
}

function pickTightest(states: readonly WindowState[]): WindowState {
  let best = states[0]!;
  for (const s of states) {
    const r = s.quota - s.used;
    const bestR = best.quota - best.used;
    // Equally tight: the soonest reset, unless nothing is left in either, when only the
    // later reset lets the next request through.
    if (r < bestR || (r === bestR && (r <= 0 ? s.resetMs > best.resetMs : s.resetMs < best.resetMs))) best = s;
  }
  return best;
}

/** Builds the decision the two backends share, so their outputs cannot drift apart. */
export function buildDecision(states: readonly WindowState[], refused?: WindowState): LimitDecision {
  if (!refused) return { allowed: true, retryAfterSec: 0, headers: formatRateLimitHeaders(states) };
  return {
    allowed: false,
    violated: refused.window.limit as LimitName,
    retryAfterSec: Math.max(1, toSec(refused.resetMs)),
    headers: formatRateLimitHeaders(states, refused),
  };
}
