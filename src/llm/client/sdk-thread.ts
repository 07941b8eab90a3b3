// Messages API attempts made on a worker thread. On a cache miss the SDK call (building the
// request, the HTTP exchange, parsing the answer) was about a fifth of the service's main
// thread under load, while the second core had room (docs/benchmarks.md, finding 27). The
// client keeps everything else on its own thread (retries, breakers, the concurrency gate,
// records, scrubbing); the thread only makes the attempt and answers with the same plain
// AttemptResult as an attempt made in place (sdk-attempt.ts). ADR 0014.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages';
import type { AttemptResult } from './sdk-attempt.js';
import type { FromSdkThread, SdkThreadOptions, ToSdkThread } from './sdk-worker.js';

export interface SdkThread {
  attempt(key: string, params: MessageCreateParamsNonStreaming, streamed: boolean, timeoutMs: number, signal?: AbortSignal): Promise<AttemptResult>;
  close(): Promise<void>;
}

// From dist/ the thread runs the compiled .js. From src/ (tsx, vitest) it registers tsx's
// loader first: a worker does not inherit the loader of the thread that starts it.
const fromSource = import.meta.url.endsWith('.ts');
const workerScript = (): string | URL => {
  if (!fromSource) return new URL('./sdk-worker.js', import.meta.url);
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const entry = new URL('./sdk-worker.ts', import.meta.url).href;
  return `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
};

const lost = (message: string): AttemptResult => ({
  ok: false,
  // Our failure, not the upstream's: it must not open a model's breaker. A retry starts a new thread.
  mapped: { code: 'upstream_unavailable', retryable: true, upstreamFailure: false, authFailure: false, message },
});

export function startSdkThread(opts: SdkThreadOptions): SdkThread {
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, (r: AttemptResult) => void>();

  const failPending = (message: string) => {
    const waiting = [...pending.values()];
    pending.clear();
    for (const done of waiting) done(lost(message));
  };

  const spawn = (): Worker => {
    const w = new Worker(workerScript(), { workerData: opts, eval: fromSource });
    w.unref(); // never what keeps a process alive
    w.on('message', (m: FromSdkThread) => {
      const done = pending.get(m.id);
      if (!done) return;
      pending.delete(m.id);
      done(m.result);
    });
    const gone = (why: string) => {
      if (worker !== w) return;
      worker = undefined;
      failPending(why);
    };
    w.on('error', (err) => gone(`the SDK thread failed: ${err.message}`));
    w.on('exit', (code) => gone(`the SDK thread stopped (exit code ${code})`));
    return w;
  };

  return {
    attempt(key, params, streamed, timeoutMs, signal) {
      if (signal?.aborted) return Promise.resolve({ ok: false, mapped: { code: 'upstream_timeout', retryable: true, upstreamFailure: true, authFailure: false, message: 'request aborted' } });
      return new Promise<AttemptResult>((resolve) => {
        const id = nextId++;
        const w = (worker ??= spawn());
        const onAbort = () => w.postMessage({ type: 'abort', id } satisfies ToSdkThread);
        signal?.addEventListener('abort', onAbort, { once: true });
        pending.set(id, (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        });
        try {
          w.postMessage({ type: 'attempt', id, key, params, streamed, timeoutMs } satisfies ToSdkThread);
        } catch (err) {
          // Parameters that cannot be copied to the thread could not have been sent either.
          pending.get(id)?.({ ok: false, mapped: { code: 'upstream_rejected', retryable: false, upstreamFailure: false, authFailure: false, message: `request not sent: ${(err as Error).message}` } });
          pending.delete(id);
        }
      });
    },
    async close() {
      const w = worker;
      worker = undefined;
      failPending('the SDK thread was closed');
      await w?.terminate();
    },
  };
}
