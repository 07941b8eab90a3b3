import { z } from 'zod';
import { named } from '../../platform/http/openapi.js';
import { premiumEnvelope } from '../premium/premium.openapi.js';
import { catalogSchema, itemKindSchema } from './catalog.schema.js';

// Documentation only (see platform/http/openapi.ts): the learning answers, as
// learning-path.routes.ts and learning-path.service.ts build them.

export const LearningPathSchema = z.strictObject({
  items: z.array(z.strictObject({ itemId: z.string(), title: z.string(), kind: itemKindSchema, skills: z.array(z.string()), minutes: z.number(), reasons: z.array(z.string()) })),
  rationale: z.string(),
  ...premiumEnvelope,
  catalogVersion: z.string(),
  experiment: z.strictObject({ key: z.literal('learning_path'), variant: z.string() }).nullable().meta({ description: 'The experiment arm the caller is in, if any' }),
});

export const RecordedEventsSchema = z.strictObject({
  accepted: z.int().min(0).meta({ description: 'Events stored now' }),
  duplicates: z.int().min(0).meta({ description: 'Events already stored under the same eventId' }),
  events: z.int().min(0).meta({ description: "The learner's events in all" }),
});

export const MasterySchema = z.strictObject({
  catalogVersion: z.string(),
  events: z.int().min(0),
  skills: z.array(z.strictObject({ skillId: z.string(), name: z.string(), mastery: z.number().min(0).max(1), mastered: z.boolean(), attempts: z.int().min(0) })),
});

export const CATALOG_BODY = {
  description: 'A catalog version as JSON; references and prerequisite cycles are checked too, and a version, once imported, cannot change content.',
  content: { 'application/json': named('Catalog', catalogSchema, 'input') },
};

export const ImportedCatalogSchema = z.strictObject({ version: z.string(), skills: z.int().min(0), items: z.int().min(0) });

// NaN (too few learners for a spread, e.g. one learner in an arm) is sent as null.
const statistic = (description: string) => z.number().nullable().meta({ description: `${description}; null when too few learners to tell` });
const variantSummary = { variant: z.string(), n: z.int().min(1).meta({ description: 'Learners with an outcome' }), mean: z.number().meta({ description: 'Mean success rate on recommended items attempted after exposure' }), sd: statistic('Standard deviation') };

export const ExperimentReportSchema = z.strictObject({
  experiment: z.string(),
  windowDays: z.int().min(1),
  learners: z
    .record(z.string(), z.strictObject({ exposed: z.int().min(0), withOutcome: z.int().min(0), switched: z.int().min(0), costPerLearnerUsd: z.number().min(0) }))
    .meta({ description: 'By first variant: learners exposed, those with an outcome in the window, those later served another variant (still counted in their first: intention to treat; many of them dilute the difference), and the mean LLM cost per exposed learner (a guardrail)' }),
  analysis: z
    .strictObject({
      control: z.strictObject(variantSummary),
      variants: z.array(
        z.strictObject({
          ...variantSummary,
          difference: z.number().meta({ description: 'Mean minus the control mean' }),
          ci95: z.tuple([statistic('Lower bound'), statistic('Upper bound')]).meta({ description: '95 % interval of the difference' }),
          pValue: statistic('Two-sided p-value'),
          effectSize: z.number(),
          effectSizeKind: z.enum(['cohens_h', 'cohens_d']),
          method: z.enum(['two-proportion-z', 'welch-t']),
        }),
      ),
    })
    .nullable()
    .meta({ description: 'Each variant against the control (the variant named control, else the first seen); null until two variants have outcomes' }),
});
