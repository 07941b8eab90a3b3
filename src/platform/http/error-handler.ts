import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import { indexRouteMethods } from './method-not-allowed.js';
import { problem } from './problem.js';

interface Mapped {
  status: number;
  code: string;
  detail: string;
  extra?: Record<string, unknown>;
  headers?: Record<string, string>;
}

// The longest path segment (a route parameter) the router takes; longer is 414.
export const MAX_PARAM_LENGTH = 200;

// Fastify's own errors that clients cause, by code. Everything unknown is a 500 with a
// generic message; the full error goes to the log only.
const FASTIFY_CODES: Record<string, { status: number; code: string; detail: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'body_too_large', detail: 'The request body is too large.' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type', detail: 'Send the body as application/json.' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json', detail: 'The JSON body is empty.' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json', detail: 'The body is not valid JSON.' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'bad_request', detail: 'Content-Length does not match the body.' },
  FST_ERR_BAD_URL: { status: 400, code: 'bad_request', detail: 'The URL is malformed.' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, code: 'uri_too_long', detail: `A path segment is longer than ${MAX_PARAM_LENGTH} characters.` },
  FST_ERR_ASYNC_CONSTRAINT: { status: 400, code: 'bad_request', detail: 'The request cannot be routed.' },
};

const CODE_BY_STATUS: Record<number, string> = { 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed', 406: 'not_acceptable', 409: 'conflict', 413: 'body_too_large', 415: 'unsupported_media_type' };

interface ZodLikeIssue {
  path?: (string | number)[];
  instancePath?: string;
  message?: string;
}

function validationErrors(err: FastifyError): { path: string; message: string }[] {
  const list = (err.validation ?? []) as unknown as ZodLikeIssue[];
  const where = err.validationContext ?? 'body';
  const dedupe = new Map<string, { path: string; message: string }>();
  for (const v of list) {
    const path = Array.isArray(v.path) ? v.path.join('.') : (v.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
    const params = (v as { params?: { issue?: { path?: (string | number)[] }; errors?: unknown } }).params;
    const issuePath = params?.issue?.path?.join('.') || path;
    const found = (v as { keyword?: string }).keyword === 'invalid_union' ? unionBranchErrors(params?.errors, issuePath ? issuePath.split('.') : []) : undefined;
    for (const e of found ?? [{ path: issuePath, message: v.message ?? 'invalid' }]) {
      const full = { path: `${where}${e.path ? '.' + e.path : ''}`, message: e.message };
      dedupe.set(`${full.path}\u0000${full.message}`, full);
    }
  }
  return [...dedupe.values()];
}

interface ZodIssue {
  code?: string;
  path?: (string | number)[];
  message?: string;
  errors?: unknown;
}

// A body that may take one of several shapes (a progress event, or {events: [...]}) failed
// as one "body: Invalid input", naming no field: zod keeps each branch's issues apart. The
// branch the client meant is the one that did not refuse the body's keys outright (no
// unrecognized key at its top), then the one with the fewest issues; its issues are
// reported with their paths. When every branch refused the body's type alike, that is said.
function unionBranchErrors(branches: unknown, prefix: string[], depth = 0): { path: string; message: string }[] | undefined {
  if (!Array.isArray(branches) || branches.length === 0 || depth > 3) return undefined;
  const rank = (b: ZodIssue[]) => (b.some((i) => i.code === 'unrecognized_keys' && (i.path ?? []).length === 0) ? 1_000_000 : 0) + b.length;
  const best = (branches as ZodIssue[][]).filter(Array.isArray).sort((a, b) => rank(a) - rank(b))[0];
  if (!best || best.length === 0) return undefined;
  return best.flatMap((i) => {
    const at = [...prefix, ...(i.path ?? []).map(String)];
    if (i.code === 'invalid_union') {
      const nested = unionBranchErrors(i.errors, at, depth + 1);
      if (nested) return nested;
    }
    return [{ path: at.join('.'), message: i.message ?? 'invalid' }];
  });
}

function mapError(err: FastifyError | AppError | Error): Mapped {
  if (err instanceof AppError) {
    return { status: err.status, code: err.code, detail: err.message, ...(err.details ? { extra: err.details } : {}), ...(err.headers ? { headers: err.headers } : {}) };
  }
  const fe = err as FastifyError;
  if (fe.validation) {
    const errors = validationErrors(fe);
    return { status: 422, code: 'validation_failed', detail: `Invalid request: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`.slice(0, 1000), extra: { errors } };
  }
  const known = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (known) return { status: known.status, code: known.code, detail: known.detail };
  if (err instanceof SyntaxError || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return { status: 400, code: 'invalid_json', detail: 'The body is not valid JSON.' };
  // A character the database cannot store (Postgres: U+0000 in text); the NUL guard
  // refuses it at the edge, this is the backstop for a path it does not see.
  if (isUnstorableText(err)) return { status: 400, code: 'bad_request', detail: 'The request holds a character that cannot be stored.' };
  if (isTransactionConflict(err)) return { status: 503, code: 'service_unavailable', detail: 'The request collided with another one in the store; retry it.', headers: { 'retry-after': '1' } };
  if (isStoreUnavailable(err)) return { status: 503, code: 'service_unavailable', detail: 'The store is unavailable; retry shortly.', headers: { 'retry-after': '5' } };
  // secure-json-parse: "Object contains forbidden prototype property" (400); the docs'
  // static files refusing a dot segment (403). The code follows the status: a 403 coded
  // bad_request told the client its request was malformed when it was refused.
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, code: CODE_BY_STATUS[fe.statusCode] ?? 'bad_request', detail: 'The request is not acceptable.' };
  }
  return { status: 500, code: 'internal', detail: 'An unexpected error occurred; it has been logged.' };
}

const UNSTORABLE_TEXT_CODES = new Set(['22021', '22P05']); // character_not_in_repertoire, untranslatable_character
const isUnstorableText = (err: unknown) => UNSTORABLE_TEXT_CODES.has(String((err as { code?: unknown } | null)?.code));

// Postgres aborted the transaction for another one's sake (40001 serialization_failure,
// 40P01 deadlock_detected): nothing of it was written, and the same request succeeds when
// retried. SQLite, one writer at a time, never raises these; its SQLITE_BUSY is below.
const CONFLICT_CODES = new Set(['40001', '40P01']);
const isTransactionConflict = (err: unknown) => CONFLICT_CODES.has(String((err as { code?: unknown } | null)?.code));

// The database cannot be reached, answered too late or has no room for us (class 53:
// 53300 when it already holds max_connections, or the role's CONNECTION LIMIT, as N
// instances × their pool size can exceed), or cancelled the statement (57014: past
// statement_timeout, which races with the client's equal query timeout, or an operator's
// pg_cancel_backend): the service itself cannot serve.
const STORE_DOWN_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57014', '57P01', '57P02', '57P03', '08000', '08003', '08006', '53000', '53100', '53200', '53300', 'SQLITE_BUSY']);
function isStoreUnavailable(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && STORE_DOWN_CODES.has(code)) return true;
  // "… is not queryable": pg's answer to a statement on a client whose connection broke.
  // Kysely's ROLLBACK after a statement lost to a dropped connection gets it, and it is what
  // the transaction throws (it replaces the original "Connection terminated").
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout|connection timeout|is not queryable/i.test(err.message);
}

export function sendProblem(reply: FastifyReply, request: FastifyRequest, m: Mapped): FastifyReply {
  if (m.headers) reply.headers(m.headers);
  return reply
    .status(m.status)
    .type('application/problem+json')
    .send(problem(m.status, m.code, m.detail, request.id, m.extra ?? {}));
}

// Errors Fastify raises before routing (a malformed URL, a failed route constraint) do
// not reach setErrorHandler; they come here, through the `frameworkErrors` option.
export function answerFrameworkError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const mapped = mapError(err);
  request.log.info({ code: mapped.code, status: mapped.status }, 'request refused');
  return sendProblem(reply, request, mapped);
}

/** Call before any route is registered (the 405 answer learns the routes as they are added). */
export function installErrorHandling(app: FastifyInstance): void {
  const routes = indexRouteMethods(app, MAX_PARAM_LENGTH);
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const mapped = mapError(err);
    if (mapped.status >= 500) request.log.error({ err }, 'unhandled error');
    else request.log.info({ code: mapped.code, status: mapped.status }, 'request refused');
    return sendProblem(reply, request, mapped);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const allowed = routes.allowed(request.method, request.url);
    if (allowed.length > 0) {
      return sendProblem(reply, request, {
        status: 405,
        code: 'method_not_allowed',
        detail: `${path} does not take ${request.method}; it takes ${allowed.join(', ')}.`,
        extra: { allowed },
        headers: { allow: allowed.join(', ') },
      });
    }
    return sendProblem(reply, request, { status: 404, code: 'not_found', detail: `No route ${request.method} ${path}.` });
  });
}
