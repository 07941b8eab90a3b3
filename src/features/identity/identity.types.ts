import type { Feature, Tier } from '../../platform/policy.schema.js';

export const ROLES = ['learner', 'instructor', 'admin'] as const;
export type Role = (typeof ROLES)[number];
// A user id as the admin API, JWT subjects and billing events accept it: every user that
// can be provisioned can then be looked up and managed by id. "." and ".." are not ids: as
// a path segment they are dot segments, which every URL parser (fetch, browsers, the
// dashboard, curl without --path-as-is) resolves away, so /v1/admin/users/.. would reach
// /v1/admin/users instead of the user.
export const USER_ID_PATTERN = /^(?!\.{1,2}$)[A-Za-z0-9_.@-]{1,200}$/;

export const SUBSCRIPTION_STATUSES = ['active', 'trialing', 'past_due', 'canceled', 'expired'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

export interface User {
  id: string;
  roles: Role[];
  createdAt: number;
  disabled: boolean;
}

export interface Subscription {
  userId: string;
  plan: string;
  status: SubscriptionStatus;
  currentPeriodEnd: number | null;
  source: 'admin' | 'billing';
  lastEventAt: number;
  updatedAt: number;
}

export interface Principal {
  userId: string;
  roles: Role[];
  tier: Tier;
  entitlements: Feature[];
  via: 'api_key' | 'jwt' | 'session';
  keyId?: string;
  /** The subscription the tier was derived from, as the caller may see it (GET /v1/me). */
  subscription?: SubscriptionView | null;
}

export interface SubscriptionView {
  plan: string;
  status: SubscriptionStatus;
  currentPeriodEnd: number | null;
  /** When premium ends unless the subscription is renewed (the grace period included); null without an end, or when not premium. */
  premiumUntil: number | null;
}
