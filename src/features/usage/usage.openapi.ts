import { z } from 'zod';

// Documentation only (see platform/http/openapi.ts): the usage answers, as usage.routes.ts
// and usage-analytics.repository.ts build them.

const day = z.string().meta({ description: 'YYYY-MM-DD' });

const sums = {
  calls: z.int().min(0),
  inputTokens: z.int().min(0),
  outputTokens: z.int().min(0),
  cacheWriteTokens: z.int().min(0),
  cacheReadTokens: z.int().min(0),
  costUsd: z.number().min(0),
};

export const UsageRowSchema = z.strictObject({ user: z.string().optional(), feature: z.string().optional(), model: z.string().optional(), day: day.optional(), ...sums }).meta({ description: 'Sums over the rows of one group; the grouping columns asked for are present' });

export const MyUsageSchema = z.strictObject({
  userId: z.string(),
  from: day,
  to: day,
  totals: UsageRowSchema,
  byFeatureDay: z.array(UsageRowSchema),
});

export const UsageReportSchema = z.strictObject({
  from: day,
  to: day,
  groupBy: z.array(z.enum(['user', 'feature', 'model', 'day'])),
  rows: z.array(UsageRowSchema),
  totals: UsageRowSchema,
  topUsers: z.array(UsageRowSchema).meta({ description: 'The ten costliest users over the range' }),
  budgets: z.array(z.strictObject({ budget: z.string(), capUsd: z.number(), spentUsd: z.number(), reservedUsd: z.number(), used: z.number().meta({ description: 'spent / cap' }), exhausted: z.boolean().meta({ description: 'Spent to the cap, or it has refused a call this period (a call whose worst case no longer fit): premium answers come from rules until it resets' }) })),
});
