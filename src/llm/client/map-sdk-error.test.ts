import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { mapSdkError, parseRetryAfter } from './map-sdk-error.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const apiError = (status: number, headers: Record<string, string> = {}) =>
  APIError.generate(status, { type: 'error', error: { type: 'x', message: 'm' } }, undefined, new Headers({ 'request-id': 'req_1', ...headers }));

describe('mapSdkError', () => {
  it.each([
    [429, 'upstream_rate_limited', true],
    [500, 'upstream_unavailable', true],
    [502, 'upstream_unavailable', true],
    [503, 'upstream_unavailable', true],
    [504, 'upstream_unavailable', true],
    [529, 'upstream_unavailable', true],
    [400, 'upstream_rejected', false],
    [401, 'upstream_rejected', false],
    [403, 'upstream_rejected', false],
    [404, 'upstream_rejected', false],
    [413, 'upstream_rejected', false],
  ] as const)('%i → %s (retryable %s)', (status, code, retryable) => {
    const m = mapSdkError(apiError(status), NOW);
    expect(m).toMatchObject({ code, retryable, status, requestId: 'req_1' });
    expect(m.authFailure).toBe(status === 401 || status === 403);
    expect(m.upstreamFailure).toBe(retryable);
  });

  it('a spend cap or a billing error blocks the account: not retryable, not a model failure', () => {
    const withCode = (status: number, error_code: string) =>
      APIError.generate(status, { type: 'error', error: { type: 'rate_limit_error', message: 'm', details: { error_code } } }, undefined, new Headers({ 'request-id': 'req_1' }));
    for (const e of [withCode(429, 'enforced_spend_limit_reached'), withCode(429, 'contract_spend_limit_reached')]) {
      expect(mapSdkError(e, NOW)).toMatchObject({ code: 'upstream_rate_limited', retryable: false, upstreamFailure: false, accountBlocked: true, status: 429 });
    }
    expect(mapSdkError(apiError(402), NOW)).toMatchObject({ code: 'upstream_rejected', retryable: false, upstreamFailure: false, accountBlocked: true });
    // A ramp limit is a rate limit like any other: wait and retry.
    const ramp = mapSdkError(withCode(429, 'ramp_limit_exceeded'), NOW);
    expect(ramp).toMatchObject({ code: 'upstream_rate_limited', retryable: true, upstreamFailure: true });
    expect(ramp.accountBlocked).toBeUndefined();
    expect(mapSdkError(apiError(429), NOW).accountBlocked).toBeUndefined();
  });

  it('maps transport failures', () => {
    expect(mapSdkError(new APIConnectionTimeoutError(), NOW).code).toBe('upstream_timeout');
    expect(mapSdkError(new APIUserAbortError(), NOW).code).toBe('upstream_timeout');
    expect(mapSdkError(new APIConnectionError({ message: 'reset' }), NOW)).toMatchObject({ code: 'upstream_unavailable', retryable: true });
    expect(mapSdkError(new SyntaxError('Unexpected end of JSON input'), NOW)).toMatchObject({ code: 'upstream_invalid_output', retryable: true });
  });

  it('marks only what the server said (a status or an SSE error event) as an answer', () => {
    for (const e of [new APIConnectionTimeoutError(), new APIUserAbortError(), new APIConnectionError({ message: 'reset' }), new SyntaxError('x'), new Error('stream ended without producing a Message')]) {
      expect(mapSdkError(e, NOW).answered).toBeUndefined();
    }
    expect(mapSdkError(apiError(529), NOW).answered).toBe(true);
    expect(mapSdkError(new APIError(undefined, { type: 'error', error: { type: 'overloaded_error', message: 'x' } }, undefined, new Headers(), 'overloaded_error' as never), NOW).answered).toBe(true);
  });

  it('maps SSE error events by their type', () => {
    const ev = (type: string) => new APIError(undefined, { type: 'error', error: { type, message: 'x' } }, undefined, new Headers(), type as never);
    expect(mapSdkError(ev('overloaded_error'), NOW).code).toBe('upstream_unavailable');
    expect(mapSdkError(ev('rate_limit_error'), NOW).code).toBe('upstream_rate_limited');
  });

  it('obeys x-should-retry, the server telling whether a retry can help, over the status', () => {
    expect(mapSdkError(apiError(500, { 'x-should-retry': 'false' }), NOW)).toMatchObject({ code: 'upstream_unavailable', retryable: false });
    expect(mapSdkError(apiError(529, { 'x-should-retry': 'false' }), NOW).retryable).toBe(false);
    expect(mapSdkError(apiError(409, { 'x-should-retry': 'true' }), NOW)).toMatchObject({ code: 'upstream_rejected', retryable: true });
    expect(mapSdkError(apiError(529, { 'x-should-retry': 'true' }), NOW).retryable).toBe(true);
    // A rejected key stays rejected: its breaker trips, a retry could not go out.
    expect(mapSdkError(apiError(401, { 'x-should-retry': 'true' }), NOW).retryable).toBe(false);
  });

  it('carries the server-requested wait', () => {
    expect(mapSdkError(apiError(429, { 'retry-after-ms': '750', 'retry-after': '9' }), NOW).retryAfterMs).toBe(750);
  });
});

describe('parseRetryAfter', () => {
  it('reads ms, seconds and HTTP dates; ignores garbage', () => {
    expect(parseRetryAfter(new Headers({ 'retry-after-ms': '12.5' }), NOW)).toBe(12.5);
    expect(parseRetryAfter(new Headers({ 'retry-after': '3' }), NOW)).toBe(3000);
    expect(parseRetryAfter(new Headers({ 'retry-after': new Date(NOW + 5000).toUTCString() }), NOW)).toBe(5000);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'soon' }), NOW)).toBeUndefined();
    expect(parseRetryAfter(new Headers({ 'retry-after-ms': '-1' }), NOW)).toBeUndefined();
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
  });
});
