import { describe, expect, it, vi } from 'vitest';
import { newId } from './ids.js';

describe('newId', () => {
  it('is the prefix and a UUIDv7 carrying the current millisecond', () => {
    const id = newId('eval');
    expect(id).toMatch(/^eval_[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}$/);
    expect(Math.abs(parseInt(id.slice(5, 17), 16) - Date.now())).toBeLessThan(60_000);
  });

  it('sorts ids made in a later millisecond after earlier ones, and never repeats', () => {
    vi.useFakeTimers({ now: Date.parse('2026-11-28T03:00:00Z'), toFake: ['Date'] });
    try {
      const perMs: string[][] = [];
      for (let ms = 0; ms < 100; ms++) {
        perMs.push(Array.from({ length: 100 }, () => newId('use')));
        vi.advanceTimersByTime(1);
      }
      expect(new Set(perMs.flat()).size).toBe(10_000);
      for (let ms = 1; ms < 100; ms++) expect(perMs[ms]!.reduce((a, b) => (a < b ? a : b)) > perMs[ms - 1]!.reduce((a, b) => (a > b ? a : b))).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
