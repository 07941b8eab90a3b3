import { z } from 'zod';
import { parseAllDocuments } from 'yaml';
import { unstorableIn } from '../../platform/unstorable-text.js';

// Ids appear in routes (`/v1/grading/rubrics/{id}`) and in the grading prompt; the same
// pattern as the route's, so every rubric that can be published can be fetched and used.
export const RubricIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'letters, digits, "_", "." or "-", at most 100');

// Bounds that keep every score a finite number (points × weight, summed over criteria).
export const MAX_LEVEL_POINTS = 1_000;
export const MAX_CRITERION_WEIGHT = 100;

export const RubricLevelSchema = z.object({
  id: z.string().min(1),
  points: z.number().finite().min(0).max(MAX_LEVEL_POINTS),
  descriptor: z.string().min(1),
});

export const RubricCriterionSchema = z
  .object({
    id: z.string().min(1),
    name: z.string().min(1),
    description: z.string(),
    levels: z.array(RubricLevelSchema).min(1),
    weight: z.number().finite().positive().max(MAX_CRITERION_WEIGHT).optional(),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.levels.forEach((l, i) => {
      if (seen.has(l.id)) ctx.addIssue({ code: 'custom', path: ['levels', i, 'id'], message: `duplicate level id "${l.id}"` });
      seen.add(l.id);
    });
  });

export const RubricAnchorSchema = z.object({
  answer: z.string().min(1),
  levels: z.record(z.string(), z.string()),
});

export const RubricSchema = z
  .object({
    id: RubricIdSchema,
    // At most 2^31 - 1: evaluations and rubrics keep it in a 32-bit integer column on
    // Postgres, where a larger one failed the grade after its call was billed.
    version: z.number().int().min(1).max(2_147_483_647),
    title: z.string().min(1),
    question: z.string().optional(),
    criteria: z.array(RubricCriterionSchema).min(1),
    referenceAnswers: z.array(z.string().min(1)),
    anchors: z.array(RubricAnchorSchema).default([]),
  })
  .superRefine((r, ctx) => {
    const levelsByCriterion = new Map<string, Set<string>>();
    r.criteria.forEach((c, i) => {
      if (levelsByCriterion.has(c.id)) {
        ctx.addIssue({ code: 'custom', path: ['criteria', i, 'id'], message: `duplicate criterion id "${c.id}"` });
      }
      levelsByCriterion.set(c.id, new Set(c.levels.map((l) => l.id)));
    });
    // Anchors are shown to the LLM as calibration examples; a dangling id there
    // would teach it a level that the validator then rejects.
    r.anchors.forEach((a, i) => {
      for (const [criterionId, levelId] of Object.entries(a.levels)) {
        const levels = levelsByCriterion.get(criterionId);
        if (!levels) {
          ctx.addIssue({ code: 'custom', path: ['anchors', i, 'levels', criterionId], message: `unknown criterion "${criterionId}"` });
        } else if (!levels.has(levelId)) {
          ctx.addIssue({
            code: 'custom',
            path: ['anchors', i, 'levels', criterionId],
            message: `unknown level "${levelId}" for criterion "${criterionId}"`,
          });
        }
      }
    });
  });

export type RubricLevel = z.infer<typeof RubricLevelSchema>;
export type RubricCriterion = z.infer<typeof RubricCriterionSchema>;
export type RubricAnchor = z.infer<typeof RubricAnchorSchema>;
export type Rubric = z.infer<typeof RubricSchema>;
export type RubricInput = z.input<typeof RubricSchema>;

const criterionWeight = (c: RubricCriterion): number => c.weight ?? 1;

export function criterionMaxPoints(c: RubricCriterion): number {
  return Math.max(...c.levels.map((l) => l.points));
}

/** Highest reachable score: each criterion's best level, times its weight. */
export function maxScore(rubric: Rubric): number {
  return rubric.criteria.reduce((sum, c) => sum + criterionMaxPoints(c) * criterionWeight(c), 0);
}

/**
 * Score from chosen levels. The single place where points are computed, so the
 * LLM path and the rules path cannot disagree on arithmetic, and a model can
 * never hand itself a score. Throws on an unknown criterion or level: callers
 * validate first.
 */
export function scoreFromLevels(rubric: Rubric, chosen: ReadonlyArray<{ criterionId: string; levelId: string }>): number {
  let total = 0;
  for (const { criterionId, levelId } of chosen) {
    const c = rubric.criteria.find((x) => x.id === criterionId);
    const l = c?.levels.find((x) => x.id === levelId);
    if (!c || !l) throw new Error(`unknown level ${criterionId}/${levelId} in rubric ${rubric.id}`);
    total += l.points * criterionWeight(c);
  }
  return total;
}

export const DEFAULT_CRITERION_ID = 'correctness';

/** Rubric used when a client sends only a question and a reference answer. */
export const DEFAULT_RUBRIC_ID = 'default-correctness';

export function defaultRubric(question: string, referenceAnswer: string): Rubric {
  return RubricSchema.parse({
    id: DEFAULT_RUBRIC_ID,
    version: 1,
    title: 'Correctness against the reference answer',
    question,
    criteria: [
      {
        id: DEFAULT_CRITERION_ID,
        name: 'Correctness',
        description: 'Does the answer state the same key ideas as the reference answer, without contradicting it?',
        levels: [
          { id: 'correct', points: 2, descriptor: 'All key ideas of the reference answer are present and nothing contradicts them.' },
          { id: 'partially_correct', points: 1, descriptor: 'Some key ideas are present, or the answer is right but incomplete or imprecise.' },
          { id: 'incorrect', points: 0, descriptor: 'Key ideas are missing, wrong or contradicted, or the answer is off-topic.' },
        ],
      },
    ],
    referenceAnswers: [referenceAnswer],
    anchors: [],
  });
}

export class RubricImportError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid rubric YAML:\n  ${problems.join('\n  ')}`);
    this.name = 'RubricImportError';
  }
}

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');

/**
 * Parses YAML holding one rubric, a list of rubrics, or `{ rubrics: [...] }`
 * (also multi-document). Errors name the failing path, e.g.
 * `rubrics[1].criteria[0].levels[2].points: expected number`.
 */
export function loadRubricsYaml(text: string): Rubric[] {
  const docs = parseAllDocuments(text);
  const problems: string[] = [];
  const items: Array<{ value: unknown; prefix: string }> = [];
  docs.forEach((doc, d) => {
    const docPrefix = docs.length > 1 ? `document[${d}]` : '';
    for (const e of doc.errors) problems.push(`${docPrefix || 'yaml'}: ${e.message.split('\n')[0]}`);
    if (doc.errors.length) return;
    let value: unknown;
    try {
      // The yaml library refuses alias bombs ("billion laughs") here; that is bad input, not a crash.
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      problems.push(`${docPrefix || 'yaml'}: ${(err as Error).message.split('\n')[0]}`);
      return;
    }
    if (value == null) return;
    const join = (p: string) => (docPrefix ? `${docPrefix}.${p}` : p);
    if (Array.isArray(value)) value.forEach((v, i) => items.push({ value: v, prefix: docPrefix ? `${docPrefix}[${i}]` : `[${i}]` }));
    else if (typeof value === 'object' && 'rubrics' in value && Array.isArray((value as { rubrics: unknown }).rubrics)) {
      (value as { rubrics: unknown[] }).rubrics.forEach((v, i) => items.push({ value: v, prefix: join(`rubrics[${i}]`) }));
    } else items.push({ value, prefix: docPrefix });
  });
  const rubrics: Rubric[] = [];
  for (const { value, prefix } of items) {
    // YAML escapes ("\0", "\ud800") make characters the request's own guard never saw in
    // the raw text: a NUL (Postgres cannot store it) or half a surrogate pair (the API
    // refuses every grading request that carries the rubric).
    const unstorable = unstorableIn(value, prefix || 'rubric');
    for (const { at, what } of unstorable) problems.push(`${at}: ${what}`);
    if (unstorable.length > 0) continue;
    const parsed = RubricSchema.safeParse(value);
    if (parsed.success) rubrics.push(parsed.data);
    else {
      for (const issue of parsed.error.issues) {
        const p = formatPath(issue.path);
        const full = prefix && p ? (p.startsWith('[') ? prefix + p : `${prefix}.${p}`) : prefix || p || '(root)';
        problems.push(`${full}: ${issue.message}`);
      }
    }
  }
  const ids = new Map<string, number>();
  for (const r of rubrics) {
    const key = `${r.id}@${r.version}`;
    ids.set(key, (ids.get(key) ?? 0) + 1);
  }
  for (const [key, n] of ids) if (n > 1) problems.push(`${key}: rubric id and version appear ${n} times`);
  if (problems.length) throw new RubricImportError(problems);
  return rubrics;
}
