// The SDK thread's side (sdk-thread.ts): makes the attempts it is sent with its own SDK
// instance and transport, and answers each with its plain result.
import { parentPort, workerData } from 'node:worker_threads';
import type Anthropic from '@anthropic-ai/sdk';
import type { MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages';
import { createHttpFetch } from './http-transport.js';
import { attemptOnce, createSdk, type AttemptResult } from './sdk-attempt.js';

export interface SdkThreadOptions {
  baseURL?: string | undefined;
  maxSockets: number;
}

export type ToSdkThread =
  | { type: 'attempt'; id: number; key: string; params: MessageCreateParamsNonStreaming; streamed: boolean; timeoutMs: number }
  | { type: 'abort'; id: number };

export interface FromSdkThread {
  id: number;
  result: AttemptResult;
}

if (parentPort) {
  const port = parentPort;
  const { baseURL, maxSockets } = workerData as SdkThreadOptions;
  const transport = createHttpFetch({ maxSockets });
  // One SDK per key, made again when the key is rotated; the transport (and its warm
  // connections) stays.
  let sdk: { key: string; client: Anthropic } | undefined;
  const running = new Map<number, AbortController>();

  port.on('message', (m: ToSdkThread) => {
    if (m.type === 'abort') {
      running.get(m.id)?.abort();
      return;
    }
    if (sdk?.key !== m.key) sdk = { key: m.key, client: createSdk(m.key, baseURL, transport) };
    const ctl = new AbortController();
    running.set(m.id, ctl);
    void attemptOnce(sdk.client, m.params, m.streamed, m.timeoutMs, ctl.signal, Date.now).then((result) => {
      running.delete(m.id);
      port.postMessage({ id: m.id, result } satisfies FromSdkThread);
    });
  });
}
