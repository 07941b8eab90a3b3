import type { ServerResponse } from 'node:http';
import type { JsonObject } from './types.js';

export type StreamMode = 'complete' | 'truncated' | 'error';

const DELTA_CHARS = 48;

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

function chunks(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += DELTA_CHARS) out.push(text.slice(i, i + DELTA_CHARS));
  return out;
}

/** The event sequence of the real API, so the SDK's MessageStream accumulates the same Message. */
export function streamEvents(message: JsonObject, requestId: string, mode: StreamMode): string {
  const usage = message.usage as JsonObject;
  const content = message.content as Array<{ text: string }>;
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
        usage: { ...usage, output_tokens: Math.min(1, Number(usage.output_tokens)) },
      },
    }),
  );
  content.forEach((block, index) => {
    parts.push(event('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '', citations: null } }));
    if (index === 0) parts.push(event('ping', { type: 'ping' }));
    const deltas = chunks(block.text);
    const cutAt = mode === 'complete' ? deltas.length : Math.max(1, Math.floor(deltas.length / 2));
    for (const text of deltas.slice(0, cutAt)) {
      parts.push(event('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text } }));
    }
    if (mode === 'complete') parts.push(event('content_block_stop', { type: 'content_block_stop', index }));
  });
  if (content.length === 0) parts.push(event('ping', { type: 'ping' }));
  if (mode === 'error') {
    parts.push(
      event('error', {
        type: 'error',
        error: { type: 'overloaded_error', message: 'Overloaded (simulated mid-stream)' },
        request_id: requestId,
      }),
    );
  }
  if (mode !== 'complete') return parts.join('');
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
  parts.push(event('message_stop', { type: 'message_stop' }));
  return parts.join('');
}

export function writeStream(
  res: ServerResponse,
  headers: Record<string, string>,
  message: JsonObject,
  requestId: string,
  mode: StreamMode,
): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  const body = streamEvents(message, requestId, mode);
  if (mode === 'truncated') {
    // Destroying only after the partial events are flushed makes the client see a connection cut mid-stream.
    res.write(body, () => res.destroy());
    return;
  }
  res.end(body);
}
