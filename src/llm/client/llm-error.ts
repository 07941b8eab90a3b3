// The one error type the LLM client throws. Features branch on `code`; metering reads `calls`
// so tokens already spent (e.g. on a failed repair) are still billed.
import type { LlmCallRecord } from './types.js';

export type LlmErrorCode =
  | 'upstream_unavailable'
  | 'upstream_rate_limited'
  | 'upstream_rejected'
  | 'upstream_timeout'
  | 'upstream_invalid_output'
  | 'upstream_refused'
  | 'upstream_truncated'
  | 'circuit_open'
  | 'no_api_key'
  | 'overloaded_locally';

export interface LlmErrorInit {
  status?: number;
  requestId?: string;
  retryable?: boolean;
  attempts?: number;
  calls?: LlmCallRecord[];
  /** Validation problems of the last answer (upstream_invalid_output only). */
  problems?: string[];
}

export class LlmError extends Error {
  readonly code: LlmErrorCode;
  readonly status?: number;
  readonly requestId?: string;
  readonly retryable: boolean;
  attempts: number;
  calls: LlmCallRecord[];
  readonly problems?: string[];

  /** `message` must already be scrubbed of secrets: the constructor cannot know the key. */
  constructor(code: LlmErrorCode, message: string, init: LlmErrorInit = {}) {
    super(message);
    this.name = 'LlmError';
    this.code = code;
    if (init.status !== undefined) this.status = init.status;
    if (init.requestId !== undefined) this.requestId = init.requestId;
    this.retryable = init.retryable ?? false;
    this.attempts = init.attempts ?? 0;
    this.calls = init.calls ?? [];
    if (init.problems !== undefined) this.problems = init.problems;
  }

  // Explicit so logs and problem bodies get a stable, secret-free shape (no stack, no cause).
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      status: this.status,
      requestId: this.requestId,
      retryable: this.retryable,
      attempts: this.attempts,
      problems: this.problems,
    };
  }
}

export function isLlmError(e: unknown): e is LlmError {
  return e instanceof LlmError;
}
