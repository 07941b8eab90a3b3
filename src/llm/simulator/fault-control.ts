import type { Fault, FaultControl } from './types.js';

export class Faults implements FaultControl {
  private queue: Array<{ fault: Fault; remaining: number }> = [];
  private rates: Array<{ fault: Fault; probability: number }> = [];

  constructor(private readonly random: () => number = Math.random) {}

  next(fault: Fault, times = 1): void {
    if (times > 0) this.queue.push({ fault, remaining: Math.floor(times) });
  }

  /** Each call fails with `fault` with this probability; later rates are tried after earlier ones. */
  rate(fault: Fault, probability: number): void {
    if (probability > 0) this.rates.push({ fault, probability: Math.min(1, probability) });
  }

  clear(): void {
    this.queue = [];
    this.rates = [];
  }

  take(): Fault | undefined {
    const head = this.queue[0];
    if (head) {
      head.remaining -= 1;
      if (head.remaining <= 0) this.queue.shift();
      return head.fault;
    }
    for (const r of this.rates) if (this.random() < r.probability) return r.fault;
    return undefined;
  }
}
