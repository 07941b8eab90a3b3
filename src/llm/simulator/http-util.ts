import type { IncomingMessage, ServerResponse } from 'node:http';

export const MAX_BODY_BYTES = 32 * 1024 * 1024;

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

const DEFAULT_MESSAGES: Record<number, string> = {
  401: 'invalid x-api-key',
  402: 'Your credit balance is too low to access the Anthropic API (simulated)',
  403: 'Your API key does not have permission to use the specified resource.',
  404: 'Not found',
  413: 'Request exceeds the maximum allowed number of bytes.',
  429: 'Number of request tokens has exceeded your per-minute rate limit (simulated)',
  500: 'Internal server error (simulated)',
  504: 'Request timed out (simulated)',
  529: 'Overloaded (simulated)',
};

export function errorType(status: number): string {
  return ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

export function errorBody(status: number, message: string | undefined, requestId: string, errorCode?: string): object {
  return {
    type: 'error',
    error: { type: errorType(status), message: message ?? DEFAULT_MESSAGES[status] ?? 'Invalid request', ...(errorCode ? { details: { error_code: errorCode } } : {}) },
    request_id: requestId,
  };
}

export function baseHeaders(requestId: string, contentType = 'application/json'): Record<string, string> {
  return { 'content-type': contentType, 'request-id': requestId, 'x-simulated': 'true' };
}

let resetCache = { second: 0, iso: '' };
function resetIso(now: number): string {
  const second = Math.floor(now / 1000);
  if (resetCache.second !== second) resetCache = { second, iso: new Date((second + 60) * 1000).toISOString() };
  return resetCache.iso;
}

/** Static, generous limits: enough for clients that read the headers, never the cause of a refusal. */
export function rateLimitHeaders(now: number, tokensUsed: number): Record<string, string> {
  const reset = resetIso(now);
  return {
    'anthropic-ratelimit-requests-limit': '4000',
    'anthropic-ratelimit-requests-remaining': '3999',
    'anthropic-ratelimit-requests-reset': reset,
    'anthropic-ratelimit-tokens-limit': '2000000',
    'anthropic-ratelimit-tokens-remaining': String(Math.max(0, 2_000_000 - tokensUsed)),
    'anthropic-ratelimit-tokens-reset': reset,
    'anthropic-ratelimit-input-tokens-limit': '1600000',
    'anthropic-ratelimit-input-tokens-remaining': '1600000',
    'anthropic-ratelimit-input-tokens-reset': reset,
    'anthropic-ratelimit-output-tokens-limit': '400000',
    'anthropic-ratelimit-output-tokens-remaining': '400000',
    'anthropic-ratelimit-output-tokens-reset': reset,
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

export function sendError(
  res: ServerResponse,
  status: number,
  requestId: string,
  message?: string,
  extra: Record<string, string> = {},
  errorCode?: string,
): void {
  sendJson(res, status, errorBody(status, message, requestId, errorCode), { ...baseHeaders(requestId), ...extra });
}

export type BodyResult = { ok: true; raw: string } | { ok: false; tooLarge: true };

export function readBody(req: IncomingMessage): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
    req.resume();
    return Promise.resolve({ ok: false, tooLarge: true });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        done = true;
        chunks.length = 0;
        resolve({ ok: false, tooLarge: true });
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve({ ok: true, raw: chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8') });
    });
    req.on('error', () => {
      if (done) return;
      done = true;
      resolve({ ok: true, raw: '' });
    });
  });
}
