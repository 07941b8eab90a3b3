import { describe, expect, it } from 'vitest';
import { FlagAnalytics } from './flag-analytics.js';

const T0 = Date.parse('2025-06-05T10:00:30Z');

describe('FlagAnalytics', () => {
  it('buckets by minute and drops minutes older than the retention window', () => {
    let now = T0;
    const a = new FlagAnalytics({ clock: { now: () => now }, retentionMinutes: 3 });
    a.record({ flag: 'grading', variant: 'on', reason: 'SPLIT', exposed: true });
    now += 60_000;
    a.record({ flag: 'grading', variant: 'off', reason: 'SPLIT', exposed: false });
    a.record({ flag: 'grading', variant: 'on', reason: 'SPLIT', exposed: true });
    expect(a.snapshot().flags.grading!.minutes.map((m) => [m.minute, m.evaluations, m.exposures])).toEqual([
      ['2025-06-05T10:00:00.000Z', 1, 1],
      ['2025-06-05T10:01:00.000Z', 2, 1],
    ]);
    now += 3 * 60_000; // 10:04: 10:00 and 10:01 fall out of a 3-minute window
    const snap = a.snapshot();
    expect(snap.flags.grading!.minutes).toEqual([]);
    // Totals are since start and survive pruning.
    expect(snap.flags.grading).toMatchObject({ evaluations: 3, exposures: 2, reasons: { SPLIT: 3 } });
  });

  it('caps distinct flags and variants so arbitrary caller keys cannot grow memory', () => {
    const a = new FlagAnalytics({ clock: { now: () => T0 }, maxFlags: 2, maxVariants: 1 });
    for (const flag of ['a', 'b', 'c', 'd']) a.record({ flag, variant: 'on', reason: 'STATIC', exposed: true });
    a.record({ flag: 'a', variant: 'off', reason: 'STATIC', exposed: false });
    const flags = a.snapshot().flags;
    expect(Object.keys(flags)).toEqual(['(other)', 'a', 'b']);
    expect(flags['(other)']!.evaluations).toBe(2);
    expect(flags.a!.variants).toEqual({ on: { evaluations: 1, exposures: 1 }, '(other)': { evaluations: 1, exposures: 0 } });
  });

  it('keeps a "__proto__" flag key as plain data', () => {
    const a = new FlagAnalytics({ clock: { now: () => T0 } });
    a.record({ flag: '__proto__', variant: 'on', reason: 'STATIC', exposed: true });
    const flags = a.snapshot().flags;
    expect(Object.keys(flags)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(flags)).toBe(Object.prototype); // not re-parented
    expect(Object.getOwnPropertyDescriptor(flags, '__proto__')?.value.evaluations).toBe(1);
    expect(JSON.stringify(flags)).toContain('"__proto__":{"evaluations":1');
  });
});
