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
