import { afterEach, describe, expect, it, vi } from 'vitest';
import { startPendingReconciler } from './pending-reconciler.js';

afterEach(() => vi.useRealTimers());

describe('startPendingReconciler', () => {
  it('reconciles rows older than the cut-off on every tick, reports what it settled and survives a failing pass', async () => {
    vi.useFakeTimers();
    const asked: number[] = [];
    const answers: (number | Error)[] = [0, 3, new Error('database is locked'), 1];
    const reconciled: number[] = [];
    const errors: unknown[] = [];
    const r = startPendingReconciler({
      metering: {
        reconcile: async (olderThanMs) => {
          asked.push(olderThanMs);
          const a = answers.shift()!;
          if (a instanceof Error) throw a;
          return a;
        },
      },
      everyMs: 60_000,
      olderThanMs: 600_000,
      onReconciled: (n) => reconciled.push(n),
      onError: (err) => errors.push(err),
    });
    await vi.advanceTimersByTimeAsync(59_999);
    expect(asked).toEqual([]);
    await vi.advanceTimersByTimeAsync(4 * 60_000);
    expect(asked).toEqual([600_000, 600_000, 600_000, 600_000]);
    expect(reconciled).toEqual([3, 1]);
    expect(errors.map((e) => (e as Error).message)).toEqual(['database is locked']);
    await r.stop();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(asked).toHaveLength(4);
  });

  it('never runs two passes at once, and stop() waits for the one under way', async () => {
    vi.useFakeTimers();
    let release!: () => void;
    let passes = 0;
    const r = startPendingReconciler({
      metering: {
        reconcile: () => {
          passes++;
          return new Promise<number>((resolve) => (release = () => resolve(0)));
        },
      },
      everyMs: 1_000,
      olderThanMs: 1,
      onReconciled: () => {},
      onError: () => {},
    });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(passes).toBe(1);
    let stopped = false;
    const stopping = r.stop().then(() => (stopped = true));
    await Promise.resolve();
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(stopped).toBe(true);
  });
});
