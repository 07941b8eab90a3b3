// One error type with stable codes; routes never build problem bodies by hand.
// Services throw these (no Fastify import), the HTTP error handler maps them.
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = new.target.name;
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
  constructor(budget: string, retryAfterSec: number) {
    super('budget_exhausted', 429, `Budget "${budget}" is exhausted.`, { budget }, {
      'retry-after': String(Math.max(1, Math.ceil(retryAfterSec))),
    });
  }
}
export class ServiceUnavailableError extends AppError {
  constructor(message: string) {
    super('service_unavailable', 503, message);
  }
}
