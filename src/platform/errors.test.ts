import { describe, expect, it } from 'vitest';
import { AppError, NotFoundError, RateLimitedError, ServiceUnavailableError } from './errors.js';

describe('AppError', () => {
  it('a client error carries its answer but no stack; a server error keeps its stack', () => {
    const refused = new RateLimitedError('requests per minute', 1.2);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ name: 'RateLimitedError', code: 'rate_limited', status: 429, details: { limit: 'requests per minute', retryAfterSec: 1.2 }, headers: { 'retry-after': '2' } });
    expect(refused.stack).toBe('RateLimitedError: Rate limit "requests per minute" exceeded; retry in 1.2 s.');
    expect(new NotFoundError('Evaluation').stack).not.toMatch(/\n\s+at /);

    const fault = new ServiceUnavailableError('database unreachable');
    expect(fault.stack).toMatch(/\n\s+at /);
    expect(fault.stack).toContain('errors.test.ts');
  });

  it('leaves the stack depth of every other error as it was', () => {
    const before = Error.stackTraceLimit;
    new NotFoundError();
    expect(Error.stackTraceLimit).toBe(before);
    expect(new Error('plain').stack).toMatch(/\n\s+at /);
  });
});
