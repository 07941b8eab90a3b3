import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BatchStore } from './batches.js';
import { SimContext } from './context.js';
import { baseHeaders, readBody, sendError, sendJson } from './http-util.js';
import { newRequestId } from './ids.js';
import { handleCountTokens, handleCreateMessage } from './messages-handler.js';
import type { Simulator, SimulatorOptions } from './types.js';

const API_VERSION = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const BATCH_ROUTE = /^\/v1\/messages\/batches\/([^/]+)(\/results|\/cancel)?$/;

function credential(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim() || undefined;
  const key = req.headers['x-api-key'];
  return typeof key === 'string' && key.length > 0 ? key : undefined;
}

function recordedHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k === 'authorization' || k === 'x-api-key' || v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

async function handle(ctx: SimContext, batches: BatchStore, opts: SimulatorOptions, req: IncomingMessage, res: ServerResponse) {
  const requestId = newRequestId();
  // Splitting by hand: WHATWG URL parsing was a visible share of the per-request cost.
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const path = rawPath.length > 1 ? rawPath.replace(/\/+$/, '') : rawPath;
  const query: Record<string, string> = q === -1 ? {} : Object.fromEntries(new URLSearchParams(rawUrl.slice(q + 1)));
  const method = req.method ?? 'GET';

  const read = method === 'POST' || method === 'PUT' || method === 'PATCH' ? await readBody(req) : { ok: true as const, raw: '' };
  let body: unknown;
  let badJson = false;
  if (read.ok && read.raw.length > 0) {
    try {
      body = JSON.parse(read.raw);
    } catch {
      body = read.raw;
      badJson = true;
    }
  }
  ctx.record({ method, path, query, headers: recordedHeaders(req), body, at: ctx.now() });

  if (path === '/' && method === 'GET') {
    sendJson(res, 200, { ok: true, service: 'anthropic-simulator', simulated: true }, baseHeaders(requestId));
    return;
  }
  if (!path.startsWith('/v1/')) {
    sendError(res, 404, requestId, `Not found: ${method} ${path}`);
    return;
  }
  const key = credential(req);
  if (!key || (opts.apiKey !== undefined && key !== opts.apiKey)) {
    sendError(res, 401, requestId, key ? 'invalid x-api-key' : 'x-api-key or authorization header is required');
    return;
  }
  // The API refuses a request without a version rather than guess which one the client speaks.
  // Any well-formed date is accepted: the SDK sends its own (2026-10-21), curl users often 2023-06-01.
  const version = req.headers['anthropic-version'];
  if (typeof version !== 'string' || !API_VERSION.test(version.trim())) {
    ctx.stats.invalid += 1;
    sendError(res, 400, requestId, version === undefined ? 'anthropic-version: header is required' : `anthropic-version: ${JSON.stringify(version)} is not a valid version (YYYY-MM-DD)`);
    return;
  }
  if (!read.ok) {
    ctx.stats.invalid += 1;
    // Telling the client to close spares us reading the rest of an oversized upload.
    sendError(res, 413, requestId, undefined, { connection: 'close' });
    return;
  }
  if (badJson) {
    ctx.stats.invalid += 1;
    sendError(res, 400, requestId, 'Request body is not valid JSON');
    return;
  }

  if (method === 'POST' && path === '/v1/messages') return handleCreateMessage(ctx, req, res, body, requestId);
  if (method === 'POST' && path === '/v1/messages/count_tokens') return handleCountTokens(ctx, res, body, requestId);
  if (path === '/v1/messages/batches') {
    if (method === 'POST') return batches.create(res, body, requestId);
    if (method === 'GET') return batches.list(res, query, requestId);
  }
  const m = BATCH_ROUTE.exec(path);
  if (m) {
    const id = decodeURIComponent(m[1]!);
    if (method === 'GET' && !m[2]) return batches.retrieve(res, id, requestId);
    if (method === 'GET' && m[2] === '/results') return batches.results(res, id, requestId);
    if (method === 'POST' && m[2] === '/cancel') return batches.cancel(res, id, requestId);
    if (method === 'DELETE' && !m[2]) return batches.delete(res, id, requestId);
  }
  if (method === 'GET' && path === '/v1/models') return ctx.models.list(res, requestId);
  if (method === 'GET' && path.startsWith('/v1/models/')) return ctx.models.retrieve(res, decodeURIComponent(path.slice(11)), requestId);
  sendError(res, 404, requestId, `Not found: ${method} ${path}`);
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const ctx = new SimContext(opts);
  const batches = new BatchStore(ctx);
  const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    handle(ctx, batches, opts, req, res).catch((err: unknown) => {
      // Hostile input must never take the simulator down; report it the way the API reports bugs.
      if (!res.headersSent && !res.destroyed) sendError(res, 500, newRequestId(), `Simulator error: ${String(err)}`);
      else res.destroy();
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const url = `http://${urlHost}:${port}`;
  ctx.baseUrl = url;

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    script: ctx.script,
    faults: ctx.faults,
    charges: ctx.charges,
    requests: ctx.requests,
    stats: () => structuredClone(ctx.stats),
    reset: () => ctx.reset(),
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        ctx.cancelTimers();
        batches.clear();
        server.close(() => resolve());
        // Hanging requests and idle keep-alive sockets would otherwise keep close() pending forever.
        server.closeAllConnections();
      })),
  };
}
