import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS, repeatEvery } from './repeat-every.js';

const DAY = 86_400_000;

describe('repeatEvery', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits a whole 30-day interval (longer than any one timer) before the first run', async () => {
    vi.useFakeTimers();
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    let runs = 0;
    const r = repeatEvery(30 * DAY, async () => {
      runs++;
    });
    try {
      await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 1000); // one timer's worth: not yet
      expect(runs).toBe(0);
      await vi.advanceTimersByTimeAsync(30 * DAY - MAX_TIMER_MS - 1000);
      expect(runs).toBe(1);
      await vi.advanceTimersByTimeAsync(29 * DAY);
      expect(runs).toBe(1);
      await vi.advanceTimersByTimeAsync(DAY);
      expect(runs).toBe(2);
    } finally {
      r.stop();
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('TimeoutOverflowWarning');
  });

  it('never overlaps runs, keeps going after a failed run, and stops', async () => {
    vi.useFakeTimers();
    let running = 0;
    let most = 0;
    let runs = 0;
    const r = repeatEvery(1000, async () => {
      running++;
      most = Math.max(most, running);
      runs++;
      await new Promise((res) => setTimeout(res, 2500)); // slower than the interval
      running--;
      if (runs === 1) throw new Error('first run fails');
    });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(most).toBe(1);
    expect(runs).toBe(3); // at 1 s, 4.5 s and 8 s
    r.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toBe(3);
  });

  it('refuses an interval that is not a positive, finite number', () => {
    for (const ms of [0, -1, Number.NaN, Infinity]) expect(() => repeatEvery(ms, async () => {})).toThrow(RangeError);
  });
});
