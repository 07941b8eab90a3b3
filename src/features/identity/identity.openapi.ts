import { z } from 'zod';
import { FEATURES, TIERS } from '../../platform/policy.schema.js';
import { ROLES } from './identity.types.js';

// Documentation only (see platform/http/openapi.ts): the identity answers, as
// identity.routes.ts, identity.service.ts and premium/me-extras.ts build them.

const windowLeft = z.strictObject({ limit: z.number(), remaining: z.number(), resetSec: z.number() });

export const MeSchema = z.strictObject({
  userId: z.string(),
  roles: z.array(z.enum(ROLES)),
  tier: z.enum(TIERS),
  entitlements: z.array(z.enum(FEATURES)),
  authenticatedWith: z.enum(['api_key', 'jwt', 'session']),
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
