export type JsonObject = Record<string, unknown>;

export type StatusFaultCode = 400 | 401 | 402 | 403 | 404 | 413 | 429 | 500 | 504 | 529;

export type StreamErrorType = 'overloaded_error' | 'api_error' | 'rate_limit_error' | 'invalid_request_error' | 'timeout_error';

export type Fault =
  /** `shouldRetry`: sent as the API's `x-should-retry` header. */
  /**
   * `errorCode`: sent as `error.details.error_code`, as the API qualifies some errors (a 429
   * `enforced_spend_limit_reached`: the tier's monthly spend cap, no retry-after).
   */
  /**
   * A 429 (not a spend cap) carries `retry-after` and the anthropic-ratelimit-* headers, as the
   * API's do: `retryAfterSec` seconds, 1 when unset; `retryAfterSec: null` sends no retry-after.
   */
  | { kind: 'status'; status: StatusFaultCode; retryAfterSec?: number | null; retryAfterMs?: number; shouldRetry?: boolean; message?: string; errorCode?: string }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'malformed' }
  /** `after: 'message_delta'`: the whole answer and its message_delta arrive, message_stop never does. */
  | { kind: 'truncated-stream'; after?: 'message_delta' }
  /**
   * An `error` event mid-answer: `overloaded_error` unless `errorType` says otherwise (the API also
   * sends `api_error`, and `invalid_request_error` for a request it only refuses once generating).
   * Non-stream: that type's status (529 for overloaded_error). `at: 'start'`: the 200's first and
   * only event is the error, before message_start (nothing began, nothing is charged).
   */
  | { kind: 'stream-error'; errorType?: StreamErrorType; at?: 'start' }
  /** The stream goes silent mid-answer and stays open until the client gives up. */
  | { kind: 'stalled-stream' };

export type SimStopReason = 'end_turn' | 'max_tokens' | 'refusal' | 'stop_sequence' | 'model_context_window_exceeded' | 'pause_turn';

export interface UsageOverride {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

export interface ScriptedResponse {
  /** Raw answer text; for structured-output requests this is the JSON text verbatim (may be invalid on purpose). */
  text?: string;
  /** Serialized as the answer text. */
  json?: unknown;
  /** Plain-text answers get a "[simulated] " prefix unless this is set. */
  raw?: boolean;
  stopReason?: SimStopReason;
  usage?: UsageOverride;
  latencyMs?: number;
  fault?: Fault;
  /**
   * In a batch only: the request's result is this instead of an answer (not charged). `expired`:
   * the batch reached its 24 h expiry before the request was processed; `canceled`: the batch
   * was canceled first. Both happen per request on the real API, beside succeeded results.
   */
  batchResult?: 'expired' | 'canceled';
}

export type ScriptMatcher = string | ((body: JsonObject) => boolean);

export interface ScriptControl {
  enqueue(resp: ScriptedResponse): void;
  when(match: ScriptMatcher, resp: ScriptedResponse): void;
  clear(): void;
  /** Scripted responses still waiting in the FIFO queue. */
  readonly pending: number;
}

export interface FaultControl {
  next(fault: Fault, times?: number): void;
  rate(fault: Fault, probability: number): void;
  clear(): void;
}

export interface ChargeRecord {
  id: string;
  requestId: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
  batch: boolean;
  at: number;
  /** A stream that broke off after message_start: charged what its events had reported (README, Faults). */
  partial?: true;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Lower-cased names; `authorization` and `x-api-key` are removed. */
  headers: Record<string, string>;
  /** Parsed JSON body, the raw text when it was not JSON, or undefined when empty. */
  body: unknown;
  at: number;
}

export interface SimulatorStats {
  /** POST /v1/messages calls that passed authentication, whatever their outcome. */
  messages: number;
  byModel: Record<string, number>;
  streamed: number;
  /** Calls answered with an injected fault. */
  faulted: number;
  /** Calls rejected as invalid (400), too large (413) or naming a model the API does not serve (404). */
  invalid: number;
  countTokens: number;
  batchesCreated: number;
  batchRequests: number;
  /** Billed messages, and their tokens summed, since start or reset (kept however long the charge list is). */
  charged: number;
  chargedTokens: { input: number; output: number; cacheCreation: number; cacheRead: number };
}

export interface SimulatorOptions {
  port?: number;
  host?: string;
  latencyMs?: number | { min: number; max: number };
  /** When set, any other bearer token / x-api-key gets 401. */
  apiKey?: string;
  /** Clock for prompt-cache TTLs, timestamps and charge records. */
  now?: () => number;
  /**
   * Prefixes shorter than this are never cached, for every model. Unset: each model's documented
   * minimum (4096 for Haiku 4.5 and Opus 4.5/4.6, 1024 for Sonnet 4.5/4.6, 1024 for unknown ids).
   */
  minCacheableTokens?: number;
  /**
   * Model ids accepted besides the ones the real API serves (`KNOWN_MODELS`, the SDK's list);
   * any other id gets the API's 404 `not_found_error` ("model: <id>").
   */
  models?: readonly string[];
  /**
   * The workspace's `default_inference_geo`: what `usage.inference_geo` reports on models that
   * report it (Opus 4.6, Sonnet 4.6 and later) for a request without `inference_geo`. Default
   * 'global'; 'us' is US-only inference, priced higher.
   */
  inferenceGeo?: 'global' | 'us';
  /** Delay before a created batch is processed. Default 50 ms. */
  batchDelayMs?: number;
  /** Oldest recorded requests are dropped beyond this, so long benchmarks do not exhaust memory; 0 keeps none. Default 100000. */
  maxRecordedRequests?: number;
  /** The same for `charges`; `stats().chargedTokens` keeps the totals either way. Default 100000. */
  maxRecordedCharges?: number;
}

export interface Simulator {
  url: string;
  port: number;
  close(): Promise<void>;
  script: ScriptControl;
  faults: FaultControl;
  charges: ChargeRecord[];
  requests: RecordedRequest[];
  stats(): SimulatorStats;
  reset(): void;
}
