import { userHash } from '../../platform/pseudonym.js';
import type { Policy } from '../../platform/policy.js';
import type { Feature, Tier } from '../../platform/policy.schema.js';
import type { LimitSpec } from '../limits/limit-types.js';

// Tier limits, refined per feature, then by the user's own override (admin API).
export function limitSpecFor(policy: Policy, tier: Tier, feature: Feature, override?: Partial<LimitSpec> | null): LimitSpec {
  const tierLimits = policy.limits[tier] ?? {};
  const { features, ...base } = tierLimits;
  return { ...base, ...(features?.[feature] ?? {}), ...(override ?? {}) };
}

// The counters a user's requests to a feature are counted under. Redis key names hold no raw
// user id (platform/pseudonym.ts); the tier is part of the key, so an upgrade starts fresh.
export function limitKeyFor(tier: Tier, feature: Feature, userId: string): string {
  return `${tier}:${feature}:${userHash(userId)}`;
}
