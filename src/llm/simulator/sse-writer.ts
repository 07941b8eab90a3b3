import type { ServerResponse } from 'node:http';
import type { JsonObject } from './types.js';

/**
 * How a stream ends: `complete`; `truncated` (the socket is cut mid-answer); `truncated-after-delta`
 * (cut after the whole answer and its message_delta, before message_stop); `error` (an `error`
 * event mid-answer, then the end); `error-at-start` (a 200 whose first and only event is an
 * `error`: nothing began, nothing is reported); `stalled` (silent mid-answer, left open).
 */
export type StreamMode = 'complete' | 'truncated' | 'truncated-after-delta' | 'error' | 'error-at-start' | 'stalled';

const DELTA_CHARS = 48;

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

function chunks(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += DELTA_CHARS) out.push(text.slice(i, i + DELTA_CHARS));
  return out;
}

/**
 * The event sequence of the real API, so the SDK's MessageStream accumulates the same Message.
 * `reportedOutputTokens`: the output count the last usage event sent says, which is all a
 * client can know of a stream that ends before message_stop.
 */
function errorEvent(errorType: string, requestId: string): string {
  return event('error', {
    type: 'error',
    error: { type: errorType, message: `${errorType === 'overloaded_error' ? 'Overloaded' : errorType} (simulated mid-stream)` },
    request_id: requestId,
  });
}

export function streamEvents(message: JsonObject, requestId: string, mode: StreamMode, errorType = 'overloaded_error'): { body: string; reportedOutputTokens: number | undefined } {
  if (mode === 'error-at-start') return { body: errorEvent(errorType, requestId), reportedOutputTokens: undefined };
  const usage = message.usage as JsonObject;
  const content = message.content as Array<{ text: string }>;
  const wholeAnswer = mode === 'complete' || mode === 'truncated-after-delta';
  const startOutputTokens = Math.min(1, Number(usage.output_tokens));
  const parts: string[] = [];
  parts.push(
    event('message_start', {
      type: 'message_start',
      message: {
        ...message,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        stop_details: null,
        usage: { ...usage, output_tokens: startOutputTokens },
      },
    }),
  );
  content.forEach((block, index) => {
    parts.push(event('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '', citations: null } }));
    if (index === 0) parts.push(event('ping', { type: 'ping' }));
    const deltas = chunks(block.text);
    const cutAt = wholeAnswer ? deltas.length : Math.max(1, Math.floor(deltas.length / 2));
    for (const text of deltas.slice(0, cutAt)) {
      parts.push(event('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text } }));
    }
    if (wholeAnswer) parts.push(event('content_block_stop', { type: 'content_block_stop', index }));
  });
  if (content.length === 0) parts.push(event('ping', { type: 'ping' }));
  if (mode === 'error') parts.push(errorEvent(errorType, requestId));
  if (!wholeAnswer) return { body: parts.join(''), reportedOutputTokens: startOutputTokens };
  parts.push(
    event('message_delta', {
      type: 'message_delta',
      delta: {
        stop_reason: message.stop_reason,
        stop_sequence: message.stop_sequence,
        stop_details: message.stop_details,
        container: null,
      },
      usage: {
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cache_creation_input_tokens: usage.cache_creation_input_tokens,
        cache_read_input_tokens: usage.cache_read_input_tokens,
        server_tool_use: null,
        output_tokens_details: null,
      },
    }),
  );
  if (mode === 'complete') parts.push(event('message_stop', { type: 'message_stop' }));
  return { body: parts.join(''), reportedOutputTokens: Number(usage.output_tokens) };
}

/** Returns the output tokens the events sent reported (see streamEvents), or undefined when nothing was sent. */
export function writeStream(
  res: ServerResponse,
  headers: Record<string, string>,
  message: JsonObject,
  requestId: string,
  mode: StreamMode,
  errorType?: string,
): number | undefined {
  if (res.headersSent || res.destroyed) return undefined;
  res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  const { body, reportedOutputTokens } = streamEvents(message, requestId, mode, errorType);
  if (mode === 'truncated' || mode === 'truncated-after-delta') {
    // Destroying only after the partial events are flushed makes the client see a connection cut mid-stream.
    res.write(body, () => res.destroy());
  } else if (mode === 'stalled') {
    // Left open: the client's deadline ends it, or close() does.
    res.write(body);
  } else {
    res.end(body);
  }
  return reportedOutputTokens;
}
