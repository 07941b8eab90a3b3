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
