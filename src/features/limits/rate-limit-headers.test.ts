import { describe, expect, it } from 'vitest';
import { REQUEST_WINDOWS } from './limit-types.js';
import { formatRateLimitHeaders } from './rate-limit-headers.js';

const [minute, hour] = REQUEST_WINDOWS;

describe('formatRateLimitHeaders', () => {
  it('lists every window in the policy and reports the one with fewest remaining', () => {
    const headers = formatRateLimitHeaders([
      { window: minute, quota: 30, used: 18, resetMs: 39_200 },
      { window: hour, quota: 600, used: 595, resetMs: 1_800_000 },
    ]);
    expect(headers).toEqual({
      'RateLimit-Policy': '"minute";q=30;w=60, "hour";q=600;w=3600',
      RateLimit: '"hour";r=5;t=1800',
    });
  });

  it('matches the draft example when the minute window is tightest', () => {
    const headers = formatRateLimitHeaders([
      { window: minute, quota: 30, used: 18, resetMs: 40_000 },
      { window: hour, quota: 600, used: 100, resetMs: 1_000_000 },
    ]);
    expect(headers['RateLimit']).toBe('"minute";r=12;t=40');
  });

  it('on refusal reports the refusing window at zero and adds Retry-After', () => {
    const states = [
      { window: minute, quota: 30, used: 3, resetMs: 10_000 },
      { window: hour, quota: 600, used: 600, resetMs: 1_234_567 },
    ];
    expect(formatRateLimitHeaders(states, states[1])).toEqual({
      'RateLimit-Policy': '"minute";q=30;w=60, "hour";q=600;w=3600',
      RateLimit: '"hour";r=0;t=1235',
      'Retry-After': '1235',
    });
  });

  it('emits nothing when no request window is configured', () => {
    expect(formatRateLimitHeaders([])).toEqual({});
  });
});
