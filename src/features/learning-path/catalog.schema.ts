import { z } from 'zod';

const id = z.string().min(1).max(200);

export const skillSchema = z.object({
  id,
  name: z.string().min(1),
  prerequisites: z.array(id).default([]),
});

export const itemKindSchema = z.enum(['lesson', 'exercise', 'review']);

export const itemSchema = z.object({
  id,
  title: z.string().min(1),
  kind: itemKindSchema,
  skills: z.array(id).min(1),
  /**
   * Author's difficulty on a 0..1 scale (0 = easiest, 1 = hardest within the catalog).
   * Only a prior: once a learner has history, the knowledge tracer's pSuccess takes over.
   */
  difficulty: z.number().min(0).max(1),
  minutes: z.number().positive(),
  /** Plans that may see the item; absent means every tier. */
  tiers: z.array(z.string().min(1)).min(1).optional(),
});

export const catalogSchema = z.object({
  version: z.string().min(1),
  skills: z.array(skillSchema).min(1),
  items: z.array(itemSchema),
});

export type Skill = z.infer<typeof skillSchema>;
export type ItemKind = z.infer<typeof itemKindSchema>;
export type CatalogItem = z.infer<typeof itemSchema>;
export type Catalog = z.infer<typeof catalogSchema>;
