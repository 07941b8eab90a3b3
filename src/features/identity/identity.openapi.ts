import { z } from 'zod';
import { named } from '../../platform/http/openapi.js';
import { FEATURES, TIERS } from '../../platform/policy.schema.js';
import { ROLES, SUBSCRIPTION_STATUSES } from './identity.types.js';

// Documentation only (see platform/http/openapi.ts): the identity answers, as
// identity.routes.ts, identity.service.ts and premium/me-extras.ts build them.

const windowLeft = z.strictObject({ limit: z.number(), remaining: z.number(), resetSec: z.number() });

export const MeSchema = z.strictObject({
  userId: z.string(),
  roles: z.array(z.enum(ROLES)),
  tier: z.enum(TIERS),
  entitlements: z.array(z.enum(FEATURES)),
  authenticatedWith: z.enum(['api_key', 'jwt', 'session']),
  subscription: z
    .strictObject({
      plan: z.string(),
      status: z.enum(SUBSCRIPTION_STATUSES),
      currentPeriodEnd: z.number().nullable().meta({ description: 'Unix milliseconds; null for a subscription with no end' }),
      premiumUntil: z.number().nullable().meta({ description: 'Unix milliseconds: when premium ends unless the subscription is renewed, the grace period included; null without an end, or when the subscription gives no premium now' }),
    })
    .nullable()
    .meta({ description: 'The subscription the tier comes from; null when the caller never had one' }),
  limits: z
    .record(
      z.enum(FEATURES),
      z.union([
        z.strictObject({ requestsPerMinute: windowLeft.optional(), requestsPerHour: windowLeft.optional(), tokensPerDay: windowLeft.optional(), concurrent: windowLeft.optional() }),
        z.strictObject({ unavailable: z.literal(true) }),
      ]),
    )
    .meta({ description: "What is left of each premium feature's limits now; unavailable when the limiter cannot be read" }),
  budget: z
    .strictObject({ period: z.string().meta({ description: 'YYYY-MM' }), capUsd: z.number(), spentUsd: z.number(), remainingUsd: z.number() })
    .nullable()
    .meta({ description: "The caller's monthly budget, or null when the policy sets none for the tier" }),
});

export const UserSchema = z.strictObject({ id: z.string(), roles: z.array(z.enum(ROLES)), createdAt: z.number().meta({ description: 'Unix milliseconds' }), disabled: z.boolean() });

export const NewApiKeySchema = z.strictObject({ id: z.string(), key: z.string().meta({ description: 'tg_…, shown this once; only its hash is stored' }), prefix: z.string() });

// The user as the admin API hands it back (created, changed, listed, looked up).
export const USER = named('User', UserSchema);

export const SubscriptionSchema = z.strictObject({
  userId: z.string(),
  plan: z.string(),
  status: z.enum(SUBSCRIPTION_STATUSES),
  currentPeriodEnd: z.number().nullable().meta({ description: 'Unix milliseconds; null for a subscription with no end' }),
  source: z.enum(['admin', 'billing']).meta({ description: 'Who set it last: the admin API or a billing event' }),
  lastEventAt: z.number().meta({ description: 'Unix milliseconds: the newest event applied (a failed payment keeps the time before it); older events are superseded' }),
  updatedAt: z.number().meta({ description: 'Unix milliseconds' }),
});
export const SUBSCRIPTION = named('Subscription', SubscriptionSchema);

export const UserListSchema = z.strictObject({ users: z.array(UserSchema).meta({ description: 'Ordered by id; pass the last id as `after` for the next page' }) });

export const UserDetailsSchema = z.strictObject({
  user: UserSchema,
  subscription: SubscriptionSchema.nullable().meta({ description: 'null when the user never had one' }),
  keys: z.array(
    z.strictObject({
      id: z.string(),
      userId: z.string(),
      prefix: z.string().meta({ description: 'The first characters of the key, to recognise it; the key itself is never shown again' }),
      createdAt: z.number().meta({ description: 'Unix milliseconds' }),
      lastUsedAt: z.number().nullable().meta({ description: 'Unix milliseconds; null if never used' }),
      revokedAt: z.number().nullable().meta({ description: 'Unix milliseconds; null while the key is valid' }),
    }),
  ).meta({ description: 'Every API key of the user, revoked ones included, oldest first' }),
});

export const UserSubscriptionSchema = z.strictObject({ subscription: SubscriptionSchema.nullable().meta({ description: 'null when the user never had one' }) });
