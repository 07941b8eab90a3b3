import type { Feature, Tier } from '../../platform/policy.schema.js';
import type { Policy } from '../../platform/policy.js';
import type { Role } from './identity.types.js';

// Which role may do what. Routes name a permission in their options; nothing else
// in the code checks roles.
export const PERMISSIONS = {
  'self:read': ['learner', 'instructor', 'admin'],
  'rubrics:read': ['learner', 'instructor', 'admin'],
  'rubrics:manage': ['instructor', 'admin'],
  'reviews:manage': ['instructor', 'admin'],
  'evaluations:read-any': ['instructor', 'admin'],
  'catalog:manage': ['admin'],
  'experiments:manage': ['admin'],
  'users:manage': ['admin'],
  'usage:read-any': ['admin'],
  'flags:manage': ['admin'],
  'limits:manage': ['admin'],
  'cache:manage': ['admin'],
  'ops:read': ['admin'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof PERMISSIONS;

export function hasPermission(roles: readonly Role[], permission: Permission): boolean {
  const allowed: readonly Role[] = PERMISSIONS[permission];
  return roles.some((r) => allowed.includes(r));
}

export function entitlementsFor(policy: Policy, tier: Tier): Feature[] {
  return [...(policy.tiers[tier]?.features ?? [])];
}
