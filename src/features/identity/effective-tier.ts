import { parseDuration } from '../../platform/duration.js';
import type { Policy } from '../../platform/policy.js';
import type { Tier } from '../../platform/policy.schema.js';
import type { Subscription, SubscriptionView } from './identity.types.js';

// Derived on every request from the stored subscription, so an expiry, a failed
// payment past its grace period or a cancel takes effect on the very next request.
export function effectiveTier(sub: Subscription | undefined, now: number, graceMs: number): Tier {
  if (!sub || sub.plan !== 'premium') return 'free';
  const end = sub.currentPeriodEnd;
  switch (sub.status) {
    case 'active':
    case 'trialing':
      return end === null || now < end + graceMs ? 'premium' : 'free';
    case 'past_due':
      // Payment failed: premium only while the grace period after the paid period runs.
      return end !== null && now < end + graceMs ? 'premium' : 'free';
    case 'canceled':
    case 'expired':
      return 'free';
  }
}

// What a learner's app shows of the subscription: the tier it gives now, and until when.
export function subscriptionView(sub: Subscription | undefined, now: number, graceMs: number): SubscriptionView | null {
  if (!sub) return null;
  const premium = effectiveTier(sub, now, graceMs) === 'premium';
  const end = sub.currentPeriodEnd;
  return { plan: sub.plan, status: sub.status, currentPeriodEnd: end, premiumUntil: premium && end !== null ? end + graceMs : null };
}

/** How long premium outlives a paid period that was not renewed (the policy's grace period). */
export function subscriptionGraceMs(policy: Pick<Policy, 'subscriptions'>): number {
  return parseDuration(policy.subscriptions.gracePeriod) ?? 0;
}
