// Work a response need not wait for, run right after it: `later` starts the work once the
// current turn's microtasks have run, which is when the turn's answer has been written to
// its socket (a handler's reply is serialised and written in microtasks). The work is
// tracked so that shutdown can wait for it (drain) before the store closes, and a failure
// is reported, never thrown at a request that has already been answered.
export class DeferredWork {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly onError: (err: unknown, label: string) => void) {}

  later(label: string, work: () => Promise<unknown>): void {
    const done: Promise<void> = new Promise<void>((resolve) => defer(resolve))
      .then(work)
      .then(
        () => undefined,
        (err: unknown) => this.onError(err, label),
      )
      .finally(() => this.pending.delete(done));
    this.pending.add(done);
  }

  // Resolves once nothing is pending, including work started by work that was pending.
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  get size(): number {
    return this.pending.size;
  }
}

// Taken at load, so that a test faking timers cannot stall the books.
const defer: (fn: () => void) => void = globalThis.setImmediate;
