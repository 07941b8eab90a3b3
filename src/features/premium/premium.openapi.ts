import { z } from 'zod';
import { FEATURES, TIERS } from '../../platform/policy.schema.js';
import type { FallbackReason } from './premium.types.js';

// Documentation only (see platform/http/openapi.ts): what every premium answer carries.

const FALLBACK_REASONS = ['not_entitled', 'flag_off', 'experiment_control', 'no_api_key', 'circuit_open', 'budget_exhausted', 'limiter_unavailable', 'upstream_failure', 'invalid_output', 'blank_input'] as const satisfies readonly FallbackReason[];
// A reason added to FallbackReason without being listed here fails to compile.
const everyReasonListed: Exclude<FallbackReason, (typeof FALLBACK_REASONS)[number]> extends never ? true : never = true;
void everyReasonListed;

export const SourceSchema = z.enum(['llm', 'cache', 'rules']).meta({ description: 'llm: a model answered; cache: a stored answer; rules: the deterministic engine (free tier, flag off, upstream failure, spent budget)' });

export const UsageSummarySchema = z
  .strictObject({
    inputTokens: z.int().min(0),
    outputTokens: z.int().min(0),
    cacheReadTokens: z.int().min(0),
    cacheWriteTokens: z.int().min(0),
    costUsd: z.number().min(0),
  })
  .meta({ description: 'What this answer cost; zero for cache and rules answers' });

export const premiumEnvelope = {
  source: SourceSchema,
  usage: UsageSummarySchema,
  fallbackReason: z.enum(FALLBACK_REASONS).optional().meta({ description: 'Why a rules answer was given instead of a model answer' }),
  notices: z.array(z.string()).optional(),
};

// The admin answers of premium-admin.routes.ts: tier limits, a user's overrides, cache purges.

export const LimitsSchema = z
  .strictObject({
    requestsPerMinute: z.int().positive().optional(),
    requestsPerHour: z.int().positive().optional(),
    tokensPerDay: z.int().positive().optional(),
    concurrent: z.int().positive().optional().meta({ description: 'Calls in flight at once' }),
  })
  .meta({ description: 'Caps; a cap left out does not apply' });

export const RateLimitsSchema = z.strictObject({
  tiers: z
    .partialRecord(z.enum(TIERS), LimitsSchema.extend({ features: z.partialRecord(z.enum(FEATURES), LimitsSchema).optional().meta({ description: 'Caps of one premium feature, over the tier caps' }) }))
    .meta({ description: 'The policy limits per tier (a user override applies over them)' }),
});

const userLimits = LimitsSchema.nullable().meta({ description: "The user's own limits over the tier's; null: none" });
const monthlyUsd = z.number().min(0).nullable().meta({ description: "The user's own monthly budget in USD; null: the tier's" });

export const UserLimitsSchema = z.strictObject({ userId: z.string(), limits: userLimits });
export const UserBudgetSchema = z.strictObject({ userId: z.string(), monthlyUsd });
export const UserOverridesSchema = z.strictObject({ userId: z.string(), limits: userLimits, monthlyUsd });

export const CachePurgeSchema = z.strictObject({ purged: z.int().min(0).meta({ description: "Entries deleted: from Redis when REDIS_URL is set, else from this instance's memory; every instance drops its own copies too" }) });
