import type { Policy } from '../../platform/policy.js';
import type { Feature, Tier } from '../../platform/policy.schema.js';
import type { LimitSpec } from '../limits/limit-types.js';

// Tier limits, refined per feature, then by the user's own override (admin API).
export function limitSpecFor(policy: Policy, tier: Tier, feature: Feature, override?: Partial<LimitSpec> | null): LimitSpec {
  const tierLimits = policy.limits[tier] ?? {};
  const { features, ...base } = tierLimits;
  return { ...base, ...(features?.[feature] ?? {}), ...(override ?? {}) };
}
