// One error type with stable codes; routes never build problem bodies by hand.
// Services throw these (no Fastify import), the HTTP error handler maps them.
//
// A client error (status < 500) is an answer, not a fault: it is never logged with a
// stack (error-handler.ts logs 5xx only), so none is captured. Capturing one walks the
// whole call stack: ~11 µs per refusal at a depth of 20 frames against ~1 µs without,
// paid by every 429 of a flood (bench scenario 8).
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details?: Record<string, unknown> | undefined;
  readonly headers?: Record<string, string> | undefined;

  constructor(code: string, status: number, message: string, details?: Record<string, unknown>, headers?: Record<string, string>) {
    const stackFrames = Error.stackTraceLimit;
    if (status < 500) Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackFrames;
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.details = details;
    this.headers = headers;
  }
}

export class ValidationError extends AppError {
  constructor(message: string, errors: { path: string; message: string }[] = []) {
    super('validation_failed', 422, message, { errors });
  }
}
export class BadRequestError extends AppError {
  constructor(message: string, code = 'bad_request') {
    super(code, 400, message);
  }
}
export class UnauthorizedError extends AppError {
  constructor(message = 'Missing or invalid credentials.') {
    super('unauthorized', 401, message, undefined, { 'www-authenticate': 'Bearer' });
  }
}
export class ForbiddenError extends AppError {
  constructor(message = 'You may not do this.') {
    super('forbidden', 403, message);
  }
}
export class PremiumRequiredError extends AppError {
  constructor(feature: string) {
    super('premium_required', 403, `The feature "${feature}" needs a premium subscription.`, { feature });
  }
}
export class NotFoundError extends AppError {
  constructor(what = 'Resource') {
    super('not_found', 404, `${what} not found.`);
  }
}
export class ConflictError extends AppError {
  constructor(message: string) {
    super('conflict', 409, message);
  }
}
export class RateLimitedError extends AppError {
  constructor(limit: string, retryAfterSec: number, headers: Record<string, string> = {}) {
    super('rate_limited', 429, `Rate limit "${limit}" exceeded; retry in ${retryAfterSec} s.`, { limit, retryAfterSec }, {
      ...headers,
      'retry-after': String(Math.max(1, Math.ceil(retryAfterSec))),
    });
  }
}
export class BudgetExhaustedError extends AppError {
  constructor(budget: string, retryAfterSec: number, headers: Record<string, string> = {}) {
    super('budget_exhausted', 429, `Budget "${budget}" is exhausted.`, { budget }, {
      ...headers,
      'retry-after': String(Math.max(1, Math.ceil(retryAfterSec))),
    });
  }
}
// Every 503 says when to retry, as the OpenAPI document promises for each operation (the
// store-down answers in error-handler.ts do too): the JWKS cannot be fetched, a cache purge
// did not reach Redis, the webhook has no secret yet.
export class ServiceUnavailableError extends AppError {
  constructor(message: string, retryAfterSec = 5) {
    super('service_unavailable', 503, message, undefined, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSec))) });
  }
}
