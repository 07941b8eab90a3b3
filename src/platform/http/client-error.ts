import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { problem } from './problem.js';

// Requests Node's HTTP parser refuses (headers over its size limit, a malformed request
// line or header, a request that took too long to arrive) never become a Fastify request,
// so no error handler sees them. Fastify's default writes plain JSON without a code; this
// writes the same answer as every other error: problem+json. Fastify's `clientErrorHandler`.
const REFUSALS: Record<string, { status: number; reason: string; code: string; detail: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, reason: 'Request Header Fields Too Large', code: 'headers_too_large', detail: 'The request headers are too large.' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'Request Timeout', code: 'request_timeout', detail: 'The request took too long to arrive.' },
};
const MALFORMED = { status: 400, reason: 'Bad Request', code: 'bad_request', detail: 'The request is not valid HTTP.' };

export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection is gone: there is nobody to answer (as Fastify's default does).
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const r = (err.code && REFUSALS[err.code]) || MALFORMED;
  if (socket.writable) {
    const body = JSON.stringify(problem(r.status, r.code, r.detail, randomUUID()));
    socket.write(`HTTP/1.1 ${r.status} ${r.reason}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}
