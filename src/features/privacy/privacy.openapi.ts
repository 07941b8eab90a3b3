import { z } from 'zod';
import { named } from '../../platform/http/openapi.js';
import { TIERS } from '../../platform/policy.schema.js';
import { EvaluationSchema } from '../grading/grading.openapi.js';
import { SubscriptionSchema, UserSchema } from '../identity/identity.openapi.js';
import { MasterySchema } from '../learning-path/learning-path.openapi.js';
import { LimitsSchema } from '../premium/premium.openapi.js';
import { PSEUDONYMISED_KINDS, REMOVED_KINDS } from './personal-data.repository.js';

// Documentation only (see platform/http/openapi.ts): the export and the erasure answers,
// as personal-data.service.ts builds them.

const unixMs = (what = 'Unix milliseconds') => z.number().meta({ description: what });
const counts = z.int().min(0);

const counts_ = (kinds: readonly string[]) => z.strictObject(Object.fromEntries(kinds.map((k) => [k, counts])) as Record<string, typeof counts>);

export const PersonalDataExportSchema = z.strictObject({
  userId: z.string(),
  exportedAt: unixMs(),
  user: UserSchema.nullable().meta({ description: 'null only for rows left under an id whose user is already gone (a write that raced an erasure)' }),
  tier: z.enum(TIERS).meta({ description: 'The tier the subscription gives now' }),
  subscription: SubscriptionSchema.nullable(),
  apiKeys: z
    .array(z.strictObject({ id: z.string(), prefix: z.string(), createdAt: unixMs(), lastUsedAt: unixMs('Unix milliseconds; null if never used').nullable(), revokedAt: unixMs('Unix milliseconds; null while valid').nullable() }))
    .meta({ description: 'Key metadata; never the key or its hash' }),
  dashboardSessions: z
    .array(z.strictObject({ createdAt: unixMs(), expiresAt: unixMs(), endedAt: unixMs('Unix milliseconds; null unless signed out').nullable(), apiKeyId: z.string().nullable().meta({ description: 'The key that signed in; null for a JWT' }) }))
    .meta({ description: 'Dashboard sign-ins; never the session id' }),
  overrides: z.strictObject({ limits: LimitsSchema.nullable(), monthlyUsd: z.number().min(0).nullable() }).nullable().meta({ description: "The user's own limits and budget; null when none was ever set" }),
  budgets: z.array(z.strictObject({ period: z.string().meta({ description: 'YYYY-MM' }), spentUsd: z.number(), reservedUsd: z.number() })).meta({ description: "The user's monthly budget counters" }),
  budgetNotices: z
    .array(z.strictObject({ period: z.string().meta({ description: 'YYYY-MM' }), threshold: z.number().meta({ description: 'Share of the cap: 0.8, or 1 when spent to it or a call was refused' }), sentAt: unixMs() }))
    .meta({ description: "Notices sent about the user's monthly budget" }),
  evaluations: z.array(
    z.strictObject({
      id: z.string(),
      rubric: z.strictObject({ id: z.string(), version: z.int() }),
      question: z.string(),
      answer: z.string().meta({ description: 'The answer as the learner sent it' }),
      grade: EvaluationSchema.meta({ description: 'The grade as it was answered' }),
      reviewStatus: z.enum(['none', 'pending', 'resolved']),
      override: z.strictObject({ levels: z.record(z.string(), z.string()), note: z.string().optional(), score: z.number() }).nullable().meta({ description: "A reviewer's grade, once resolved" }),
      reviewedAt: unixMs('Unix milliseconds; null until reviewed').nullable(),
      createdAt: unixMs(),
    }),
  ),
  progressEvents: z.array(z.strictObject({ eventId: z.string(), itemId: z.string(), correct: z.boolean(), at: unixMs(), receivedAt: unixMs() })),
  learnerState: z
    .strictObject({
      state: z.strictObject({ total: z.record(z.string(), z.number()), skills: z.record(z.string(), z.record(z.string(), z.number())), items: z.record(z.string(), z.record(z.string(), z.number())) }).meta({ description: 'The knowledge-tracing counts: overall, per skill and per item' }),
      lastEventAt: unixMs(),
      events: counts,
      updatedAt: unixMs(),
      baseline: z
        .strictObject({
          state: z.strictObject({ total: z.record(z.string(), z.number()), skills: z.record(z.string(), z.record(z.string(), z.number())), items: z.record(z.string(), z.record(z.string(), z.number())) }),
          events: counts,
          lastEventAt: unixMs('Unix milliseconds of the newest attempt folded in'),
        })
        .nullable()
        .meta({ description: 'The knowledge-tracing counts of the attempts the retention job deleted (ADR 0017), kept so a replay does not forget them; null when none were deleted' }),
    })
    .nullable(),
  mastery: MasterySchema.nullable().meta({ description: 'Mastery per skill of the active catalog, derived from the state; null without one' }),
  recommendations: z.array(z.strictObject({ id: z.string(), experiment: z.string().nullable(), variant: z.string().nullable(), source: z.string(), itemIds: z.array(z.string()), at: unixMs() })),
  exposures: z.array(z.strictObject({ experiment: z.string(), variant: z.string(), firstAt: unixMs(), exposures: counts })),
  usage: z.strictObject({
    ledger: z.array(
      z.strictObject({
        id: z.string(),
        feature: z.string(),
        model: z.string(),
        inputTokens: counts,
        outputTokens: counts,
        cacheWriteTokens: counts,
        cacheReadTokens: counts,
        costUsd: z.number().min(0),
        outcome: z.string(),
        source: z.string(),
        status: z.enum(['pending', 'settled']),
        day: z.string(),
        createdAt: unixMs(),
        settledAt: unixMs('Unix milliseconds; null while pending').nullable(),
      }),
    ).meta({ description: 'One row per metered call' }),
    daily: z.array(z.strictObject({ day: z.string(), feature: z.string(), model: z.string(), calls: counts, inputTokens: counts, outputTokens: counts, cacheWriteTokens: counts, cacheReadTokens: counts, costUsd: z.number().min(0) })),
  }),
  billingEvents: z.array(z.strictObject({ eventId: z.string(), type: z.string(), occurredAt: unixMs(), receivedAt: unixMs() })).meta({ description: "The payment provider's events about the user" }),
  rubricsOwned: z.array(z.strictObject({ id: z.string(), version: z.int(), createdAt: unixMs() })).meta({ description: 'Rubric versions the user published' }),
});
export const PERSONAL_DATA_EXPORT = named('PersonalDataExport', PersonalDataExportSchema);

export const ErasureSchema = z.strictObject({
  userHash: z.string().meta({ description: 'How logs and Redis keys name the user' }),
  pseudonym: z.string().meta({ description: 'erased:<userHash>: the user id the kept usage and billing rows now carry' }),
  removed: counts_(REMOVED_KINDS).meta({ description: 'Rows deleted, by kind' }),
  pseudonymised: counts_(PSEUDONYMISED_KINDS).meta({ description: 'Rows kept under the pseudonym, by kind: usage and billing (totals unchanged), and what the user did as reviewer, rubric author or flag editor' }),
  cacheEntriesPurged: counts.nullable().meta({ description: 'Cached answers of the user dropped; null when the purge failed (purge user:<id> again, or they expire with their TTL)' }),
});
export const ERASURE = named('Erasure', ErasureSchema);
