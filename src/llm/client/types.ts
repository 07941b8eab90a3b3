// Public contract of the LLM client. Features depend on these types only, never on the SDK,
// so the SDK can change (it has, often) without touching feature code.
import type { LlmErrorCode } from './llm-error.js';

export interface LlmUsage {
  inputTokens: number;
  outputTokens: number;
  cacheWrite5mTokens: number;
  cacheWrite1hTokens: number;
  cacheReadTokens: number;
  /**
   * `usage.inference_geo` when the API reported one. "us" (US-only inference, asked for per
   * request or set as the workspace's default_inference_geo) is billed at a premium on the
   * models that charge it (the price's usOnlyMultiplier), so it must reach the price book.
   */
  inferenceGeo?: string;
}

/**
 * One upstream call (with its retries). Metering sums `usage`; metrics count `outcome`.
 * `usage` is every attempt's: the answer's, plus what each streamed attempt that broke after
 * message_start had reported (a failed non-streamed attempt has no usage to know: zero).
 */
export interface LlmCallRecord {
  feature: string;
  model: string;
  messageId?: string;
  requestId?: string;
  /** HTTP attempts made; 0 when the call was refused locally (breaker, queue, no key). */
  attempts: number;
  retries: number;
  latencyMs: number;
  usage: LlmUsage;
  outcome: 'ok' | LlmErrorCode;
  stopReason?: string;
  streamed?: boolean;
  /** True for the follow-up call that asked the model to fix invalid output. */
  repair?: boolean;
}

export interface SystemBlock {
  text: string;
  /** Static prefixes get a cache breakpoint so repeat calls read them from the prompt cache. */
  cache?: '5m' | '1h';
}

export type ParseOutcome<T> = { ok: true; value: T } | { ok: false; problems: string[] };

export interface StructuredRequest<T> {
  /** Picks model and timeout from config. */
  feature: string;
  system: SystemBlock[];
  /** The per-request part. */
  user: string;
  /** JSON schema for output_config.format. */
  schema: Record<string, unknown>;
  /** Semantic validation; its problems are sent back to the model once for repair. */
  parse: (raw: unknown) => ParseOutcome<T>;
  maxTokens: number;
  stream?: boolean;
  signal?: AbortSignal;
}

export interface StructuredResult<T> {
  value: T;
  /** One per upstream call, including the repair call. */
  calls: LlmCallRecord[];
  model: string;
}

export interface BatchItem {
  customId: string;
  feature: string;
  system: SystemBlock[];
  user: string;
  schema: Record<string, unknown>;
  maxTokens: number;
}

export interface BatchStatus {
  id: string;
  status: 'in_progress' | 'canceling' | 'ended';
  counts: { processing: number; succeeded: number; errored: number; canceled: number; expired: number };
  createdAt: string;
  endedAt: string | null;
  expiresAt: string;
}

export interface BatchResultItem {
  customId: string;
  /** True when the request succeeded, ended normally and its text is valid JSON. */
  ok: boolean;
  /** Parsed JSON answer (validate it with the feature's parse()). */
  raw?: unknown;
  usage?: LlmUsage;
  messageId?: string;
  model?: string;
  stopReason?: string;
  /** Why ok is false: 'errored:<type>' | 'canceled' | 'expired' | 'refusal' | 'max_tokens' | 'model_context_window_exceeded' | 'invalid_json'. */
  error?: string;
}

export interface AnthropicClient {
  structured<T>(req: StructuredRequest<T>): Promise<StructuredResult<T>>;
  countTokens(feature: string, system: SystemBlock[], user: string, schema?: Record<string, unknown>): Promise<number>;
  modelFor(feature: string): string;
  // With a feature: can that feature's model be called now? Without: is the key usable?
  available(feature?: string): boolean;
  // With a feature: its model's breaker (or open if the key's is); without: the worst state.
  breakerState(feature?: string): 'closed' | 'open' | 'half_open';
  breakerStates(): Record<string, 'closed' | 'open' | 'half_open'>;
  keyFingerprint(): string | null;
  setApiKey(key: string | null): void;
  batches: {
    create(items: BatchItem[]): Promise<string>;
    retrieve(id: string): Promise<BatchStatus>;
    results(id: string): AsyncIterable<BatchResultItem>;
    list(): AsyncIterable<BatchStatus>;
    cancel(id: string): Promise<void>;
  };
}

export interface LlmLogger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface AnthropicClientConfig {
  apiKey: string | null;
  baseURL?: string;
  /** feature → model; the key 'default' is used for features not listed. */
  models: Record<string, string>;
  /** feature → per-attempt timeout in ms (default 30 s; the key 'default' overrides that). */
  timeoutsMs: Record<string, number>;
  retry: { maxRetries: number; maxTotalMs: number; baseDelayMs: number };
  breaker: { failureThreshold: number; openMs: number; halfOpenProbes: number };
  concurrency: { maxInFlight: number; maxQueued: number; queueTimeoutMs: number };
  onCall?: (rec: LlmCallRecord) => void;
  logger?: LlmLogger;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** The fetch handed to the SDK; default: the keep-alive node:http transport (http-transport.ts). */
  fetch?: typeof fetch;
}
