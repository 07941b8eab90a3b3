// Stops calling an upstream that keeps failing, so requests fall back to the deterministic
// path at once instead of each waiting out timeouts and retries.

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  failureThreshold: number;
  openMs: number;
  halfOpenProbes: number;
}

/** One permitted attempt. Exactly one of its methods should be called when the attempt ends. */
export interface BreakerPermit {
  /** The upstream answered (even a 400 or an invalid answer proves it is up). */
  success(): void;
  /** An upstream failure or overload. */
  failure(): void;
  /** No verdict, e.g. the caller aborted. */
  release(): void;
}

export class CircuitBreaker {
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probesInFlight = 0;
  // Bumped on every transition so a permit granted in an earlier phase cannot close or reopen a later one.
  #epoch = 0;

  constructor(
    private readonly opts: CircuitBreakerOptions,
    private readonly now: () => number,
    private readonly onOpen: (reason: string) => void = () => {},
  ) {}

  state(): BreakerState {
    if (this.#state === 'open' && this.now() - this.#openedAt >= this.opts.openMs) {
      this.#transition('half_open');
    }
    return this.#state;
  }

  /** Null when the call must not reach the upstream. */
  acquire(): BreakerPermit | null {
    const state = this.state();
    if (state === 'open') return null;
    if (state === 'half_open') {
      if (this.#probesInFlight >= Math.max(1, this.opts.halfOpenProbes)) return null;
      this.#probesInFlight++;
    }
    const probe = state === 'half_open';
    const epoch = this.#epoch;
    let done = false;
    const finish = (verdict: 'success' | 'failure' | 'release') => {
      if (done) return;
      done = true;
      if (epoch !== this.#epoch) return;
      if (probe) this.#probesInFlight--;
      if (verdict === 'success') this.#onSuccess();
      else if (verdict === 'failure') this.#onFailure();
    };
    return {
      success: () => finish('success'),
      failure: () => finish('failure'),
      release: () => finish('release'),
    };
  }

  /** Open now, whatever the count: e.g. a revoked key fails every call, retrying is pointless. */
  trip(reason: string): void {
    this.#open(reason);
  }

  /** Forget failures, e.g. after a key rotation fixed the cause of a trip. */
  reset(): void {
    this.#failures = 0;
    this.#transition('closed');
  }

  #onSuccess(): void {
    this.#failures = 0;
    if (this.#state !== 'closed') this.#transition('closed');
  }

  #onFailure(): void {
    this.#failures++;
    if (this.#state === 'half_open') this.#open('half-open probe failed');
    else if (this.#state === 'closed' && this.#failures >= this.opts.failureThreshold) {
      this.#open(`${this.#failures} consecutive upstream failures`);
    }
  }

  #open(reason: string): void {
    const wasOpen = this.#state === 'open';
    this.#openedAt = this.now();
    this.#transition('open');
    if (!wasOpen) this.onOpen(reason);
  }

  #transition(to: BreakerState): void {
    this.#state = to;
    this.#probesInFlight = 0;
    this.#epoch++;
  }
}
