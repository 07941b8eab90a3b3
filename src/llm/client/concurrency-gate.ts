// Bounds how many LLM calls run at once and how many may wait, so a burst turns into fast
// 'overloaded_locally' failures (and fallbacks) instead of an unbounded queue of slow requests.

export class GateRejected extends Error {
  constructor(readonly reason: 'queue_full' | 'queue_timeout' | 'aborted') {
    super(`concurrency gate: ${reason}`);
    this.name = 'GateRejected';
  }
}

interface Waiter {
  grant: () => void;
  reject: (e: Error) => void;
}

export class ConcurrencyGate {
  #inFlight = 0;
  readonly #queue: Waiter[] = [];

  constructor(private readonly opts: { maxInFlight: number; maxQueued: number; queueTimeoutMs: number }) {}

  get inFlight(): number {
    return this.#inFlight;
  }
  get queued(): number {
    return this.#queue.length;
  }

  /** Resolves to a release function; call it exactly once. Rejects with GateRejected. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    // Checked first: an 'abort' listener never fires for a signal that is already aborted, so a
    // free slot would otherwise go to a caller who has already left.
    if (signal?.aborted) return Promise.reject(new GateRejected('aborted'));
    if (this.#inFlight < this.opts.maxInFlight) {
      this.#inFlight++;
      return Promise.resolve(this.#releaser());
    }
    if (this.#queue.length >= this.opts.maxQueued) return Promise.reject(new GateRejected('queue_full'));
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        grant: () => {
          cleanup();
          resolve(this.#releaser());
        },
        reject: (e) => {
          cleanup();
          const i = this.#queue.indexOf(waiter);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(e);
        },
      };
      const timer = setTimeout(() => waiter.reject(new GateRejected('queue_timeout')), this.opts.queueTimeoutMs);
      const onAbort = () => waiter.reject(new GateRejected('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.shift();
      // The slot passes straight to the next waiter, so inFlight never dips and lets a newcomer jump the queue.
      if (next) next.grant();
      else this.#inFlight--;
    };
  }
}
