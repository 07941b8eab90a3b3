import { z } from 'zod';
import { named } from '../../platform/http/openapi.js';
import { premiumEnvelope } from '../premium/premium.openapi.js';
import { RubricSchema } from './rubric.schema.js';

// Documentation only (see platform/http/openapi.ts): the grading answers, as
// grading.service.ts builds them.

export const EvaluationSchema = z.strictObject({
  id: z.string(),
  rubric: z.strictObject({ id: z.string(), version: z.int().min(1) }),
  score: z.number(),
  maxScore: z.number(),
  criteria: z.array(z.strictObject({ criterionId: z.string(), levelId: z.string(), points: z.number(), evidence: z.array(z.string()), justification: z.string() })),
  feedback: z.strictObject({ strengths: z.array(z.string()), improve: z.array(z.string()), nextStep: z.string() }),
  confidence: z.number().min(0).max(1),
  reviewStatus: z.enum(['none', 'pending', 'resolved']),
  reviewReasons: z.array(z.string()),
  injection: z.strictObject({ flagged: z.boolean(), signals: z.array(z.string()) }),
  ...premiumEnvelope,
  createdAt: z.iso.datetime(),
});

export const RUBRIC_BODY = {
  description:
    'One rubric as JSON (application/json, schema Rubric), or YAML (application/yaml or text/yaml) holding one rubric, a list of rubrics, or {rubrics: [...]}, also as several documents; each rubric is checked against Rubric, and any failure refuses the whole import with the failing paths.',
  content: {
    'application/json': named('Rubric', RubricSchema, 'input'),
    'application/yaml': z.string().meta({ description: 'YAML: a Rubric, a list of them, or {rubrics: [Rubric, ...]}' }),
    'text/yaml': z.string().meta({ description: 'As application/yaml' }),
  },
};

export const PublishedRubricsSchema = z.strictObject({ rubrics: z.array(z.strictObject({ id: z.string(), version: z.int().min(1) })) });

export const RubricListSchema = z.strictObject({
  rubrics: z.array(z.strictObject({ id: z.string(), version: z.int().min(1), title: z.string(), question: z.string().optional(), criteria: z.int().min(1).meta({ description: 'How many criteria' }), maxScore: z.number() })),
});

// A stored evaluation (fetched, queued for review, resolved): once resolved, the reviewer's
// score replaces the grader's and the override is shown.
export const StoredEvaluationSchema = EvaluationSchema.extend({
  override: z
    .strictObject({ levels: z.record(z.string(), z.string()).meta({ description: 'Level id by criterion id' }), note: z.string().optional(), score: z.number() })
    .optional()
    .meta({ description: "The reviewer's levels and the score they give, once resolved" }),
});
export const STORED_EVALUATION = named('StoredEvaluation', StoredEvaluationSchema);

export const ReviewQueueSchema = z.strictObject({ reviews: z.array(StoredEvaluationSchema).meta({ description: 'Grades awaiting review, oldest first' }) });

// A published rubric. Its reference answers and anchors are what the grader grades against,
// so only a caller who may manage rubrics (rubrics:manage) is shown them.
export const RubricDetailsSchema = z.strictObject({
  id: z.string(),
  version: z.int().min(1),
  title: z.string(),
  question: z.string().optional(),
  criteria: z.array(
    z.strictObject({
      id: z.string(),
      name: z.string(),
      description: z.string(),
      levels: z.array(z.strictObject({ id: z.string(), points: z.number().min(0), descriptor: z.string() })).min(1),
      weight: z.number().positive().optional().meta({ description: '1 when left out' }),
    }),
  ).min(1),
  referenceAnswers: z.array(z.string()).optional().meta({ description: 'Only for callers with rubrics:manage' }),
  anchors: z.array(z.strictObject({ answer: z.string(), levels: z.record(z.string(), z.string()) })).optional().meta({ description: 'Graded example answers; only for callers with rubrics:manage' }),
});

const agreement = (what: string, share = false) => (share ? z.number().min(0).max(1) : z.number()).nullable().meta({ description: `${what}; null when there was nothing to compare (n 0)` });

export const CalibrationRunsSchema = z.strictObject({
  runs: z
    .array(
      z.strictObject({
        rubricVersion: z.int().min(1),
        model: z.string(),
        templateVersion: z.int(),
        n: z.int().min(0).meta({ description: 'Known grades re-graded' }),
        kappa: agreement('Quadratic weighted kappa'),
        exact: agreement('Share of exact agreement', true),
        at: z.iso.datetime(),
      }),
    )
    .meta({ description: 'The latest 20 runs, newest first (none for an unknown rubric)' }),
});

export const CalibrationResultSchema = z.strictObject({
  rubricId: z.string(),
  rubricVersion: z.int().min(1),
  n: z.int().min(0).meta({ description: "Known grades re-graded: the rubric's anchors and the reviewers' overrides of this version" }),
  kappa: agreement('Quadratic weighted kappa'),
  exact: agreement('Share of exact agreement', true),
  llmGraded: z.int().min(0).meta({ description: 'How many of them a model graded (the others fell back to the rules)' }),
});
