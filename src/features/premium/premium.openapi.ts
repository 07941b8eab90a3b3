import { z } from 'zod';
import type { FallbackReason } from './premium.types.js';

// Documentation only (see platform/http/openapi.ts): what every premium answer carries.

const FALLBACK_REASONS = ['not_entitled', 'flag_off', 'experiment_control', 'no_api_key', 'circuit_open', 'budget_exhausted', 'limiter_unavailable', 'upstream_failure', 'invalid_output'] as const satisfies readonly FallbackReason[];
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
