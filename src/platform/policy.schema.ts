import { z } from 'zod';
import { DAY_MS, isCalendarDay } from './clock.js';
import { parseDuration } from './duration.js';
import { HTTP_DURATION_TOP_MS } from './metrics.js';
// The one definition of what a flag may be, for the file and the admin API alike (a pure
// schema: it imports nothing from the flag feature's runtime).
import { flagKeySchema, policyFlagSchema } from '../features/flags/flag-definition.schema.js';

export const FEATURES = ['grading', 'learning_path'] as const;
export type Feature = (typeof FEATURES)[number];
export const TIERS = ['free', 'premium'] as const;
export type Tier = (typeof TIERS)[number];

const feature = z.enum(FEATURES);
const tier = z.enum(TIERS);
const usd = z.number().nonnegative().finite();
const duration = z.string().refine((s) => parseDuration(s) !== undefined, 'expected a duration like 30s, 15m, 1h or 30d');
const isoDate = z.string().refine(isCalendarDay, 'expected a date YYYY-MM-DD, from 1970 on');

const limitSpec = z.strictObject({
  requestsPerMinute: z.int().positive().optional(),
  requestsPerHour: z.int().positive().optional(),
  tokensPerDay: z.int().positive().optional(),
  concurrent: z.int().positive().optional(),
});
const tierLimits = limitSpec.extend({ features: z.partialRecord(feature, limitSpec).optional() });

const price = z.strictObject({
  model: z.string().min(1),
  effective: isoDate,
  input: usd,
  output: usd,
  cacheWrite5m: usd,
  cacheWrite1h: usd,
  cacheRead: usd,
  batchDiscount: z.number().min(0).max(1).default(0.5),
  // What US-only inference (usage.inference_geo "us") multiplies every rate by: 1.1 on Claude
  // Opus 4.6, Sonnet 4.6 and later; absent (1) on models that cannot run US-only.
  usOnlyMultiplier: z.number().min(1).finite().optional(),
});

const alertRule = z.strictObject({
  name: z.string().min(1),
  metric: z.enum(['costUsdPerHour', 'errorRatio', 'p95LatencyMs', 'budgetUsedRatio', 'breakerOpen', 'calibrationKappa']),
  above: z.number().optional(),
  below: z.number().optional(),
  cooldown: duration.default('1h'),
})
  // The shape alone would take a rule with no threshold, which then never fires.
  .refine((r) => r.above !== undefined || r.below !== undefined, { message: 'a rule needs "above" or "below" (or both): without a threshold it never fires' })
  .refine((r) => r.metric !== 'p95LatencyMs' || r.above === undefined || r.above < HTTP_DURATION_TOP_MS, {
    // Latencies past the histogram's top bound all read as that bound: such a rule could never fire.
    message: `a p95LatencyMs alert must fire below ${HTTP_DURATION_TOP_MS} ms, the latency histogram's highest bound`,
    path: ['above'],
  });

// The name is an alert's identity: the evaluator keeps one firing/resolved state per name,
// and the receiver sees only the name. Two rules sharing one would overwrite each other's
// state (a warning and a critical threshold on one metric alternate "firing" and "resolved"
// on every tick), so a repeated name is refused.
const alertRules = z.array(alertRule).superRefine((rules, ctx) => {
  const first = new Map<string, number>();
  rules.forEach((r, i) => {
    const j = first.get(r.name);
    if (j === undefined) first.set(r.name, i);
    else ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `the name "${r.name}" is already used by alerts.rules.${j}; give each rule its own` });
  });
});

// Retention (ADR 0017): how long learners' personal data is kept, per kind. Absent: kept
// as before. Each period has a floor below which the product would lose data it still
// reads (and which catches a unit slip: 30m for 30d would delete nearly everything):
export const RETENTION_FLOORS = {
  // a learner reads a graded answer back, and contests it with an instructor, within a marking period
  evaluations: { days: 30, why: 'learners read graded answers back and contest them within a marking period' },
  calibrationSet: { days: 30, why: 'calibration compares the grader with instructors on these answers' },
  // LearningPathService.history reads 60 days of attempts for review and recency
  progressEvents: { days: 60, why: 'learning paths read the last 60 days of attempts (review and recency)' },
  // the experiment report's default window is 30 days, and it pairs outcomes with the recommendation before them
  recommendations: { days: 30, why: "the experiment report's default 30-day window pairs outcomes with these recommendations" },
  // a user's budget counter (and its notices) is reserved in and read for the current month, and
  // settled into after it ends (a call reserved before midnight, a crashed call reconciled):
  // two months are at most 62 days, and a day more covers clocks and late settles
  userBudgets: { days: 63, why: "budget counters are read for the current month and settled into after it ends (two months are up to 62 days)" },
} as const;
export type RetentionKind = keyof typeof RETENTION_FLOORS;
export const RETENTION_KINDS = Object.keys(RETENTION_FLOORS) as RetentionKind[];
// 100 years: beyond it a period is a typo, and the cut-off would leave the range of a bigint.
const RETENTION_MAX_DAYS = 36_500;

const retentionPeriod = (kind: RetentionKind) =>
  z.string().superRefine((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === undefined) ctx.addIssue({ code: 'custom', message: 'expected a duration like 180d (a positive number and a unit: d, h, m, s or ms)' });
    else if (ms < RETENTION_FLOORS[kind].days * DAY_MS) ctx.addIssue({ code: 'custom', message: `at least ${RETENTION_FLOORS[kind].days}d: ${RETENTION_FLOORS[kind].why}` });
    else if (ms > RETENTION_MAX_DAYS * DAY_MS) ctx.addIssue({ code: 'custom', message: `at most ${RETENTION_MAX_DAYS}d` });
  });

const retention = z.strictObject({
  evaluations: retentionPeriod('evaluations').optional(),
  calibrationSet: retentionPeriod('calibrationSet').optional(),
  progressEvents: retentionPeriod('progressEvents').optional(),
  recommendations: retentionPeriod('recommendations').optional(),
  userBudgets: retentionPeriod('userBudgets').optional(),
  // How often the job runs (and once shortly after start-up). Not under a minute: each run
  // reads the oldest rows of several tables; not over 30 days: the periods are in days.
  // The bounds are checked only on a duration: on anything else they would both fail too.
  every: z
    .string()
    .superRefine((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === undefined) ctx.addIssue({ code: 'custom', message: 'expected a duration like 30s, 15m, 1h or 30d' });
      else if (ms < 60_000) ctx.addIssue({ code: 'custom', message: 'at least 1m' });
      else if (ms > 30 * DAY_MS) ctx.addIssue({ code: 'custom', message: 'at most 30d' });
    })
    .default('1h'),
});

export const policySchema = z.strictObject({
  tiers: z.partialRecord(tier, z.strictObject({ features: z.array(feature) })).default({}),
  subscriptions: z.strictObject({ gracePeriod: duration.default('3d') }).default({ gracePeriod: '3d' }),
  models: z.partialRecord(feature, z.string().min(1)).default({}),
  prices: z.array(price).default([]),
  limits: z.partialRecord(tier, tierLimits).default({}),
  budgets: z
    .strictObject({
      perUserMonthlyUsd: z.partialRecord(tier, usd).optional(),
      perFeatureDailyUsd: z.partialRecord(feature, usd).optional(),
      globalDailyUsd: usd.optional(),
      onExhausted: z.enum(['rules', 'reject']).optional(),
    })
    .default({}),
  cache: z.partialRecord(feature, z.strictObject({ ttl: duration, scope: z.enum(['shared', 'user']) })).default({}),
  flags: z.record(flagKeySchema, policyFlagSchema).default({}),
  alerts: z
    .strictObject({ webhook: z.url().optional(), rules: alertRules.default([]) })
    .default({ rules: [] }),
  llm: z
    .strictObject({
      timeoutMs: z.partialRecord(feature, z.int().min(100).max(600_000)).default({}),
      maxRetries: z.int().min(0).max(10).default(2),
      maxRetryMs: z.int().min(0).max(600_000).default(20_000),
      maxInFlight: z.int().min(1).max(10_000).default(64),
      maxQueued: z.int().min(0).max(100_000).default(256),
      breakerFailures: z.int().min(1).max(1000).default(5),
      breakerOpenMs: z.int().min(100).max(3_600_000).default(30_000),
    })
    .default({ timeoutMs: {}, maxRetries: 2, maxRetryMs: 20_000, maxInFlight: 64, maxQueued: 256, breakerFailures: 5, breakerOpenMs: 30_000 }),
  grading: z
    .strictObject({
      secondSampleBelowConfidence: z.number().min(0).max(1).default(0.6),
      disagreementThreshold: z.number().min(0).max(1).default(0.25),
      revealGuard: z.boolean().default(true),
      maxTokens: z.int().positive().default(1024),
      calibrationEvery: duration.optional(), // re-grade every rubric's anchors on this schedule
    })
    .default({ secondSampleBelowConfidence: 0.6, disagreementThreshold: 0.25, revealGuard: true, maxTokens: 1024 }),
  retention: retention.optional(),
});

export type PolicyFile = z.input<typeof policySchema>;
export type ParsedPolicy = z.output<typeof policySchema>;
export type LimitSpecPolicy = z.output<typeof limitSpec>;
export type PricePolicy = z.output<typeof price>;
export type FlagPolicy = z.output<typeof policyFlagSchema>;
export type RetentionPolicy = z.output<typeof retention>;
