import type { IncomingMessage, ServerResponse } from 'node:http';
import { baseHeaders, sendError } from './http-util.js';
import { newMessageId } from './ids.js';
import { writeStream } from './sse-writer.js';
import type { Fault, JsonObject } from './types.js';

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

export function respondWithFault(
  fault: Fault,
  req: IncomingMessage,
  res: ServerResponse,
  body: JsonObject,
  requestId: string,
): void {
  const stream = body.stream === true;
  switch (fault.kind) {
    case 'status': {
      const extra: Record<string, string> = {};
      if (fault.retryAfterSec !== undefined) extra['retry-after'] = String(fault.retryAfterSec);
      if (fault.retryAfterMs !== undefined) extra['retry-after-ms'] = String(fault.retryAfterMs);
      sendError(res, fault.status, requestId, fault.message, extra);
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
    case 'truncated-stream': {
      if (stream) {
        writeStream(res, baseHeaders(requestId), stubMessage(body), requestId, 'truncated');
        return;
      }
      const full = JSON.stringify(stubMessage(body));
      res.writeHead(200, { ...baseHeaders(requestId), 'content-length': Buffer.byteLength(full) });
      res.write(full.slice(0, full.length >> 1), () => res.destroy());
      return;
    }
    case 'stream-error':
      if (stream) writeStream(res, baseHeaders(requestId), stubMessage(body), requestId, 'error');
      else sendError(res, 529, requestId);
      return;
  }
}
