import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimContext } from './context.js';
import { baseHeaders, rateLimitHeaders, sendError } from './http-util.js';
import { newMessageId } from './ids.js';
import { buildMessage } from './message-builder.js';
import { writeStream, type StreamMode } from './sse-writer.js';
import type { Fault, JsonObject, ScriptedResponse, StreamErrorType } from './types.js';
import { validateMessageRequest } from './validate-request.js';

const STATUS_OF: Record<StreamErrorType, number> = { overloaded_error: 529, api_error: 500, rate_limit_error: 429, invalid_request_error: 400, timeout_error: 504 };

function stubMessage(body: JsonObject): JsonObject {
  return {
    id: newMessageId(),
    type: 'message',
    role: 'assistant',
    model: typeof body.model === 'string' ? body.model : 'unknown',
    content: [{ type: 'text', text: '[simulated] This answer is cut off before it is complete, as injected by a fault.', citations: null }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: { input_tokens: 1, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  };
}

// A stream that breaks mid-answer broke after the model began it: message_start has already
// reported the request's usage, and the API bills what it processed. So the stream carries the
// message the request would have got (`scripted`, or the default answer: its usage, its prompt
// cache reads and writes), and the charge is what its events reported before the break: the
// input and cache tokens, and the output count of the last usage event sent (message_start's, or
// message_delta's when the cut comes after it). An invalid request is never answered: it gets a
// stub, uncharged.
function breakStream(ctx: SimContext, res: ServerResponse, body: JsonObject, requestId: string, mode: StreamMode, scripted: ScriptedResponse | undefined, errorType?: string): void {
  if (validateMessageRequest(body, 'create')) {
    writeStream(res, baseHeaders(requestId), stubMessage(body), requestId, mode, errorType);
    return;
  }
  const built = buildMessage(body, scripted, { cache: ctx.cache, now: ctx.now, requestId, batch: false, inferenceGeo: ctx.inferenceGeo });
  const reportedOutputTokens = writeStream(res, baseHeaders(requestId), built.message, requestId, mode, errorType);
  if (reportedOutputTokens !== undefined) ctx.charge({ ...built.charge, outputTokens: reportedOutputTokens, partial: true });
}

// Headers and half a JSON body, then the socket is cut, or left silent for the client's deadline
// to end the read. No usage reaches a client from half a body, so none is charged (README, Faults).
function halfBody(res: ServerResponse, body: JsonObject, requestId: string, then: 'cut' | 'stall'): void {
  const full = JSON.stringify(stubMessage(body));
  res.writeHead(200, { ...baseHeaders(requestId), 'content-length': Buffer.byteLength(full) });
  const half = full.slice(0, full.length >> 1);
  if (then === 'cut') res.write(half, () => res.destroy());
  else res.write(half);
}

// The API's rate-limit 429 says when to come back: `retry-after` (seconds) and the
// anthropic-ratelimit-* headers with the exhausted limit at 0. A spend cap's 429 is no rate
// limit (it lasts until the cap resets or is raised) and carries none of them.
const SPEND_CAPS = new Set(['enforced_spend_limit_reached', 'contract_spend_limit_reached']);
const isSpendCap = (code: string | undefined) => code !== undefined && SPEND_CAPS.has(code);
export const DEFAULT_RETRY_AFTER_SEC = 1;

function rateLimitedHeaders(now: number, retryAfterSec: number | null | undefined): Record<string, string> {
  const wait = retryAfterSec === null ? DEFAULT_RETRY_AFTER_SEC : (retryAfterSec ?? DEFAULT_RETRY_AFTER_SEC);
  const reset = new Date(Math.ceil((now + wait * 1000) / 1000) * 1000).toISOString();
  return {
    ...rateLimitHeaders(now, 0),
    'anthropic-ratelimit-requests-remaining': '0',
    'anthropic-ratelimit-requests-reset': reset,
    // null: a 429 without retry-after, as a proxy in front of the API might send.
    ...(retryAfterSec === null ? {} : { 'retry-after': String(wait) }),
  };
}

/** `scripted`: the script entry that carried the fault, if it came from the script. */
export function respondWithFault(
  ctx: SimContext,
  fault: Fault,
  req: IncomingMessage,
  res: ServerResponse,
  body: JsonObject,
  requestId: string,
  scripted?: ScriptedResponse,
): void {
  const stream = body.stream === true;
  switch (fault.kind) {
    case 'status': {
      const extra: Record<string, string> = fault.status === 429 && !isSpendCap(fault.errorCode) ? rateLimitedHeaders(ctx.now(), fault.retryAfterSec) : {};
      if (typeof fault.retryAfterSec === 'number') extra['retry-after'] = String(fault.retryAfterSec);
      if (fault.retryAfterMs !== undefined) extra['retry-after-ms'] = String(fault.retryAfterMs);
      if (fault.shouldRetry !== undefined) extra['x-should-retry'] = String(fault.shouldRetry);
      sendError(res, fault.status, requestId, fault.message, extra, fault.errorCode);
      return;
    }
    case 'hang':
      // Never answer; the socket is released when the client gives up or the server closes.
      return;
    case 'reset':
      req.socket.destroy();
      return;
    case 'malformed': {
      const broken = stream
        ? 'event: message_start\ndata: {"type": "message_start", "message": {"id": "msg_sim_broken", "con\n\n'
        : '{"id": "msg_sim_broken", "type": "message", "content": [{"type": "te';
      const type = stream ? 'text/event-stream; charset=utf-8' : 'application/json';
      res.writeHead(200, { ...baseHeaders(requestId, type), 'content-length': Buffer.byteLength(broken) });
      res.end(broken);
      return;
    }
    case 'truncated-stream':
      if (stream) breakStream(ctx, res, body, requestId, fault.after === 'message_delta' ? 'truncated-after-delta' : 'truncated', scripted);
      else halfBody(res, body, requestId, 'cut');
      return;
    case 'stream-error':
      if (stream) breakStream(ctx, res, body, requestId, fault.at === 'start' ? 'error-at-start' : 'error', scripted, fault.errorType);
      else sendError(res, STATUS_OF[fault.errorType ?? 'overloaded_error'], requestId);
      return;
    case 'stalled-stream':
      if (stream) breakStream(ctx, res, body, requestId, 'stalled', scripted);
      else halfBody(res, body, requestId, 'stall');
      return;
  }
}
