import { z } from 'zod';
import { named } from '../../platform/http/openapi.js';
import { flagDefinitionSchema } from './flag-definition.schema.js';
import type { FlagReason } from './flag.types.js';

// Documentation only (see platform/http/openapi.ts): the flag answers, as flags.routes.ts,
// flags.service.ts, flag-evaluator.ts and flag-analytics.ts build them.

// The definition in force: the policy file's (no version, no updatedAt) or the stored override.
export const FlagSchema = flagDefinitionSchema.meta({ description: 'A flag as it is in force: the policy default, or the change stored over it (then with version and updatedAt)' });
export const FLAG = named('Flag', FlagSchema);

export const FlagListSchema = z.strictObject({ flags: z.array(FlagSchema).meta({ description: 'By key' }) });

export const FlagAuditSchema = z.strictObject({
  entries: z
    .array(
      z.strictObject({
        flagKey: z.string(),
        actor: z.string().meta({ description: 'The user id that made the change' }),
        at: z.iso.datetime(),
        before: FlagSchema.nullable().meta({ description: 'null for the first change over the policy default' }),
        after: FlagSchema,
      }),
    )
    .meta({ description: 'The latest 100 changes, newest first' }),
});

const REASONS = ['DISABLED', 'TARGETING_MATCH', 'SPLIT', 'DEFAULT', 'STATIC', 'ERROR'] as const satisfies readonly FlagReason[];
// A reason added to FlagReason without being listed here fails to compile.
const everyReasonListed: Exclude<FlagReason, (typeof REASONS)[number]> extends never ? true : never = true;
void everyReasonListed;

export const FlagEvaluationSchema = z.strictObject({
  key: z.string(),
  enabled: z.boolean(),
  variant: z.string().optional().meta({ description: 'The experiment arm, for a flag with variants that is on' }),
  reason: z.enum(REASONS),
  rolloutInForce: z.number().min(0).max(100).meta({ description: 'The rollout after the ramp, in percent' }),
  bucket: z.int().min(0).max(9999).meta({ description: "The user's sticky bucket (0.01 % each)" }),
  errorMessage: z.string().optional().meta({ description: 'Only with reason ERROR' }),
});

const counts = { evaluations: z.int().min(0), exposures: z.int().min(0) };
const flagCounts = {
  ...counts,
  variants: z.record(z.string(), z.strictObject(counts)).meta({ description: 'By variant: on/off for a plain flag, the variant key for an experiment, none on errors; "(other)" past 50' }),
};
const flagTotals = { ...flagCounts, reasons: z.record(z.string(), z.int().min(0)).meta({ description: 'Evaluations by reason' }) };

// This instance's counts since it started; flags past 500 are counted under "(other)".
export const flagAnalyticsSchema = (perMinute: boolean) =>
  z.strictObject({
    since: z.iso.datetime().meta({ description: 'When this instance started counting' }),
    at: z.iso.datetime(),
    flags: z.record(
      z.string(),
      z.strictObject(perMinute ? { ...flagTotals, minutes: z.array(z.strictObject({ minute: z.iso.datetime(), ...flagCounts })).meta({ description: 'The last 60 minutes that saw evaluations, oldest first' }) } : flagTotals),
    ),
  });

export const FlagAnalyticsSchema = flagAnalyticsSchema(true);
