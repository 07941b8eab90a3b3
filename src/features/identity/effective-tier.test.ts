import { describe, expect, it } from 'vitest';
import { effectiveTier } from './effective-tier.js';
import type { Subscription } from './identity.types.js';

const DAY = 86_400_000;
const now = Date.parse('2026-11-27T00:00:00Z');
const sub = (s: Partial<Subscription>): Subscription => ({
  userId: 'u', plan: 'premium', status: 'active', currentPeriodEnd: now + DAY, source: 'billing', lastEventAt: 0, updatedAt: 0, ...s,
});

describe('effectiveTier', () => {
  it('is free without a subscription', () => expect(effectiveTier(undefined, now, 0)).toBe('free'));
  it('is premium while active or trialing within the period', () => {
    expect(effectiveTier(sub({}), now, 0)).toBe('premium');
    expect(effectiveTier(sub({ status: 'trialing' }), now, 0)).toBe('premium');
    expect(effectiveTier(sub({ currentPeriodEnd: null }), now, 0)).toBe('premium');
  });
  it('expires at the period end plus grace', () => {
    const ended = sub({ currentPeriodEnd: now - 2 * DAY });
    expect(effectiveTier(ended, now, 3 * DAY)).toBe('premium');
    expect(effectiveTier(ended, now, 1 * DAY)).toBe('free');
  });
  it('keeps past_due premium only during grace', () => {
    expect(effectiveTier(sub({ status: 'past_due', currentPeriodEnd: now - DAY }), now, 3 * DAY)).toBe('premium');
    expect(effectiveTier(sub({ status: 'past_due', currentPeriodEnd: now - 4 * DAY }), now, 3 * DAY)).toBe('free');
  });
  it('is free at once when canceled or expired, whatever the period says', () => {
    expect(effectiveTier(sub({ status: 'canceled', currentPeriodEnd: now + 30 * DAY }), now, 3 * DAY)).toBe('free');
    expect(effectiveTier(sub({ status: 'expired' }), now, 3 * DAY)).toBe('free');
  });
});
