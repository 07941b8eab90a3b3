// Turns whatever the SDK (or fetch under it) threw into our error vocabulary. The SDK's class
// hierarchy changes between releases, so this keys on status and a few stable class names.
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
} from '@anthropic-ai/sdk';
import type { LlmErrorCode } from './llm-error.js';

export interface MappedError {
  code: LlmErrorCode;
  status?: number;
  requestId?: string;
  retryable: boolean;
  /** Counts toward opening the breaker. */
  upstreamFailure: boolean;
  /** 401/403: the key is bad, open the breaker at once. */
  authFailure: boolean;
  /**
   * The account cannot be served, whatever the model or the request: a 402 billing_error, or a 429
   * whose `error.details.error_code` is a spend limit (the tier's monthly cap, a contract's), which
   * lasts until the limit resets or is raised and comes without retry-after. Not retryable, not a
   * model outage; it opens the key breaker at once, like a rejected key.
   */
  accountBlocked?: true;
  /**
   * The server itself answered: an HTTP status or an SSE `error` event. Only such an answer
   * proves the key was accepted; a reset, a timeout or a cut stream says nothing about it.
   */
  answered?: true;
  /**
   * A 404 `not_found_error`. To a Messages call it means the model is not served (a typo or a
   * retired id in the policy: "model: <id>"), which every call to that model will meet.
   */
  notFound?: true;
  /** Server-requested wait, from retry-after-ms or retry-after. */
  retryAfterMs?: number;
  message: string;
}

// 429s that are not rate limits but the organisation's spend caps (the SDK's
// EnforcedSpendLimitReachedError, ContractSpendLimitReachedError): retrying cannot help until
// the cap resets or is raised. A ramp limit (ramp_limit_exceeded) is a real rate limit, with retry-after.
const SPEND_LIMIT_CODES = new Set(['enforced_spend_limit_reached', 'contract_spend_limit_reached']);

export function mapSdkError(err: unknown, nowMs: number): MappedError {
  if (err instanceof APIUserAbortError) {
    // Our own per-attempt deadline and the caller's signal both surface as an abort;
    // the caller distinguishes them (it knows which one fired).
    return { code: 'upstream_timeout', retryable: true, upstreamFailure: true, authFailure: false, message: 'request aborted' };
  }
  if (err instanceof APIConnectionTimeoutError) {
    return { code: 'upstream_timeout', retryable: true, upstreamFailure: true, authFailure: false, message: 'upstream request timed out' };
  }
  if (err instanceof APIConnectionError) {
    return { code: 'upstream_unavailable', retryable: true, upstreamFailure: true, authFailure: false, message: `upstream connection failed: ${err.message}` };
  }
  if (err instanceof APIError) {
    const requestId = err.requestID ?? undefined;
    const base = { requestId, message: err.message, answered: true } as const;
    const status = err.status;
    if (status === undefined) {
      // An `event: error` inside an SSE stream: no status, only the error type.
      const type = err.type ?? '';
      if (type === 'rate_limit_error') return { ...base, code: 'upstream_rate_limited', retryable: true, upstreamFailure: true, authFailure: false };
      if (type === 'invalid_request_error') return { ...base, code: 'upstream_rejected', retryable: false, upstreamFailure: false, authFailure: false };
      return { ...base, code: 'upstream_unavailable', retryable: true, upstreamFailure: true, authFailure: false };
    }
    const errorCode = (err.error as { error?: { details?: { error_code?: unknown } } } | undefined)?.error?.details?.error_code;
    if (status === 402 || (status === 429 && typeof errorCode === 'string' && SPEND_LIMIT_CODES.has(errorCode))) {
      const code = status === 429 ? 'upstream_rate_limited' : 'upstream_rejected';
      return { ...base, code, status, retryable: false, upstreamFailure: false, authFailure: false, accountBlocked: true };
    }
    const retryAfterMs = parseRetryAfter(err.headers, nowMs);
    const withWait = retryAfterMs === undefined ? {} : { retryAfterMs };
    const m = byStatus(status);
    // The API says whether a retry can help, and the SDK's own retry policy (off here: the retries
    // are ours) obeys it before the status. A rejected key stays rejected: a retry could not go out.
    const told = err.headers?.get('x-should-retry');
    const retryable = told === 'false' ? false : told === 'true' ? !m.authFailure : m.retryable;
    return { ...base, ...m, retryable, status, ...(retryable ? withWait : {}), ...(status === 404 ? { notFound: true as const } : {}) };
  }
  if (err instanceof SyntaxError) {
    // A 200 whose body is not JSON (a proxy's HTML page, a cut-off body): worth one more try.
    return { code: 'upstream_invalid_output', retryable: true, upstreamFailure: true, authFailure: false, message: 'upstream returned an unparsable body' };
  }
  const message = err instanceof Error ? err.message : String(err);
  // The SDK's MessageStream reports a stream cut before message_stop as a plain AnthropicError.
  if (/stream ended|without sending any chunks|Unexpected event order|terminated/i.test(message)) {
    return { code: 'upstream_unavailable', retryable: true, upstreamFailure: true, authFailure: false, message: `upstream stream broke: ${message}` };
  }
  return { code: 'upstream_unavailable', retryable: true, upstreamFailure: true, authFailure: false, message };
}

function byStatus(status: number): Pick<MappedError, 'code' | 'retryable' | 'upstreamFailure' | 'authFailure'> {
  if (status === 429) return { code: 'upstream_rate_limited', retryable: true, upstreamFailure: true, authFailure: false };
  if (status === 408) return { code: 'upstream_timeout', retryable: true, upstreamFailure: true, authFailure: false };
  if (status >= 500) return { code: 'upstream_unavailable', retryable: true, upstreamFailure: true, authFailure: false };
  // Every other 4xx (400/401/403/404/413 above all) fails the same way however often it is sent.
  return { code: 'upstream_rejected', retryable: false, upstreamFailure: false, authFailure: status === 401 || status === 403 };
}

/** retry-after-ms (Anthropic's precise header) wins over retry-after (seconds or an HTTP date). */
export function parseRetryAfter(headers: Headers | undefined, nowMs: number): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '') {
    const v = Number(ms);
    if (Number.isFinite(v) && v >= 0) return v;
  }
  const ra = headers.get('retry-after');
  if (ra !== null && ra.trim() !== '') {
    const sec = Number(ra);
    if (Number.isFinite(sec) && sec >= 0) return sec * 1000;
    const at = Date.parse(ra);
    if (Number.isFinite(at)) return Math.max(0, at - nowMs);
  }
  return undefined;
}
