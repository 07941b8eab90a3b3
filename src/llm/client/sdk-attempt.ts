// One attempt of a Messages API call through the official SDK, and the SDK's options. Shared
// by the client's own thread and the SDK thread (sdk-thread.ts), so both make the same call
// and report it in the same plain, cloneable terms.
import Anthropic from '@anthropic-ai/sdk';
import type { Message, MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages';
import { mapSdkError, type MappedError } from './map-sdk-error.js';

export type AttemptResult = { ok: true; message: Message; requestId?: string } | { ok: false; mapped: MappedError };

export const DEFAULT_TIMEOUT_MS = 30_000;

export function createSdk(apiKey: string, baseURL: string | undefined, fetch: typeof globalThis.fetch): Anthropic {
  return new Anthropic({
    apiKey,
    ...(baseURL !== undefined ? { baseURL } : {}),
    // Retries are ours: each attempt is recorded, the total is capped, the breaker sees each failure.
    maxRetries: 0,
    timeout: DEFAULT_TIMEOUT_MS,
    // The SDK's own logging could print request details; ours is scrubbed and structured.
    logLevel: 'off',
    fetch,
  });
}

export async function attemptOnce(
  client: Anthropic,
  params: MessageCreateParamsNonStreaming,
  streamed: boolean,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  now: () => number,
): Promise<AttemptResult> {
  // The SDK's timeout covers only the wait for headers; this deadline also covers reading the
  // body or the stream, which is where a hung upstream usually stalls.
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  const onAbort = () => ctl.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  let stream: ReturnType<Anthropic['messages']['stream']> | undefined;
  try {
    let message: unknown;
    let requestId: string | null | undefined;
    const opts = { timeout: timeoutMs, maxRetries: 0, signal: ctl.signal };
    if (streamed) {
      stream = client.messages.stream(params, opts);
      message = await stream.finalMessage();
      requestId = stream.request_id;
    } else {
      const m = await client.messages.create(params, opts);
      message = m;
      requestId = m._request_id;
    }
    if (!isMessage(message)) {
      return { ok: false, mapped: { code: 'upstream_invalid_output', retryable: true, upstreamFailure: true, authFailure: false, message: 'upstream returned a body that is not a message', ...(requestId ? { requestId } : {}) } };
    }
    return { ok: true, message, ...(requestId ? { requestId } : {}) };
  } catch (e) {
    const mapped = mapSdkError(e, now());
    // A stream that broke after it connected knows its request id even though the error does not.
    if (!mapped.requestId && stream?.request_id) mapped.requestId = stream.request_id;
    return { ok: false, mapped };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

function isMessage(v: unknown): v is Message {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Partial<Message>;
  return Array.isArray(m.content) && typeof m.usage === 'object' && m.usage !== null;
}
