import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { maxScore, scoreFromLevels, type Rubric } from './rubric.schema.js';
import { foldWord, splitUnspaced } from './concept-extractor.js';
import { unescapeAnswerData } from './grading-prompt.js';
import type { Grade } from './rules-grader.js';

export const GradingOutputSchema = z
  .object({
    criteria: z.array(
      z
        .object({
          criterionId: z.string(),
          levelId: z.string(),
          evidence: z.array(z.string()),
          justification: z.string(),
        })
        .strict(),
    ),
    feedback: z
      .object({
        strengths: z.array(z.string()),
        improve: z.array(z.string()),
        nextStep: z.string(),
      })
      .strict(),
    confidence: z.number().min(0).max(1),
  })
  .strict();

export type GradingOutput = z.infer<typeof GradingOutputSchema>;

export interface ValidateGradingOptions {
  rubric: Rubric;
  answer: string;
  /** Reject feedback that repeats a reference answer verbatim (for students who will see it). */
  revealGuard: boolean;
  /** Consecutive words shared with a reference answer that count as revealing it. Default 8. */
  revealNgram?: number;
}

export type ValidateGradingResult = { ok: true; grade: Grade } | { ok: false; problems: string[] };

export const DEFAULT_REVEAL_NGRAM = 8;
// Shorter references than this are not guarded: a 3-word answer like "it stays
// lit" is too generic to count as leaked.
const MIN_GUARDED_NGRAM = 4;

const normaliseText = (s: string): string =>
  s
    .normalize('NFKC')
    .replace(/[\u200B-\u200F\u2060-\u2064\uFEFF\u00AD]/g, '')
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[\u201C\u201D]/g, '"')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();

// Words as the rules grader reads them: letters with their marks (Hindi vowel signs, Arabic and
// Hebrew points) and digits of any script, Chinese, Japanese or Thai runs split into words, and
// accents folded, so that a reference leaked in another form (without accents) is still found.
const words = (s: string): string[] => (normaliseText(s).match(/[\p{L}\p{M}\p{N}]+(?:'[\p{L}\p{M}]+)?/gu) ?? []).flatMap(splitUnspaced).map(foldWord);

// Quote marks a model may put around a quote: ASCII ones (curly and full-width ones arrive as
// these), French guillemets, German „…“, CJK corner brackets.
const QUOTE_MARKS = `"'\`«»„‟‚‛‹›「」『』〝〞〟`;
const EDGE_MARKS = new RegExp(`^[\\s${QUOTE_MARKS}]+|[\\s${QUOTE_MARKS}]+$`, 'gu');

/** Does the quote occur in the answer, up to whitespace, case, Unicode form and surrounding quote marks? "…" may join fragments. */
export function quoteOccursIn(quote: string, answer: string): boolean {
  return quoteOccursInNormalised(quote, normaliseText(answer));
}

// `hay`: the answer already normalised (normaliseText), which a validation does once for
// all of a grade's quotes rather than once per quote.
function quoteOccursInNormalised(quote: string, hay: string): boolean {
  const parts = normaliseText(quote)
    .split(/\s*(?:\.\.\.|…)\s*/)
    .map((p) => p.replace(EDGE_MARKS, ''))
    .filter(Boolean);
  if (parts.length === 0) return false;
  let from = 0;
  for (const p of parts) {
    const at = hay.indexOf(p, from);
    if (at < 0) return false;
    from = at + p.length;
  }
  return true;
}

/**
 * The first run of >= n consecutive words that `text` shares with `reference`, if any;
 * a run the learner's own answer also holds (`notIn`) is no reveal: quoting the learner
 * back to them is what justifications and feedback do.
 */
export function sharedNgram(text: string, reference: string, n: number, notIn?: string): string | undefined {
  const ref = referenceGrams(reference, n);
  if (!ref) return undefined;
  let own: string | undefined;
  return firstSharedGram(words(text), ref, () => (own ??= notIn === undefined ? '' : ` ${words(notIn).join(' ')} `));
}

// `t`: the text's words; `own()`: the learner's words joined and framed by spaces, asked
// for only when a gram matches. A gram can only match where a reference gram starts, so
// positions whose word starts none are skipped without building the gram.
function firstSharedGram(t: string[], ref: ReferenceGrams, own: () => string): string | undefined {
  for (let i = 0; i + ref.size <= t.length; i++) {
    if (!ref.first.has(t[i]!)) continue;
    const g = t.slice(i, i + ref.size).join(' ');
    if (!ref.grams.has(g)) continue;
    if (!own().includes(` ${g} `)) return g;
  }
  return undefined;
}

interface ReferenceGrams {
  size: number;
  grams: Set<string>;
  /** the first word of each gram */
  first: Set<string>;
}

// A reference answer's word n-grams, kept per (n, reference): every LLM grade checks its
// feedback against the same few rubric references, and splitting them again each time
// cost more than the check itself (bench/grading-rules.bench.ts: validateGradingOutput
// 38 → 28 µs p50).
const gramCache = new LRUCache<string, ReferenceGrams | 'none'>({ max: 2_000 });
function referenceGrams(reference: string, n: number): ReferenceGrams | undefined {
  const key = `${n}\u0000${reference}`;
  let hit = gramCache.get(key);
  if (hit === undefined) {
    const ref = words(reference);
    const size = Math.min(n, ref.length);
    if (size < MIN_GUARDED_NGRAM) hit = 'none';
    else {
      const grams = new Set<string>();
      const first = new Set<string>();
      for (let i = 0; i + size <= ref.length; i++) {
        grams.add(ref.slice(i, i + size).join(' '));
        first.add(ref[i]!);
      }
      hit = { size, grams, first };
    }
    gramCache.set(key, hit);
  }
  return hit === 'none' ? undefined : hit;
}

/**
 * Checks an LLM grading output against the rubric and the answer. The score
 * is always recomputed from the chosen levels: a model-supplied score would be
 * rejected by the strict schema, and is never trusted anyway.
 */
// The prompt asks for criteria keyed by criterion id (template version 2); the list form
// `[{criterionId, …}]` is accepted as well, so answers to version 1 prompts still validate.
function criteriaAsList(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null) return raw;
  const criteria = (raw as { criteria?: unknown }).criteria;
  if (typeof criteria !== 'object' || criteria === null || Array.isArray(criteria)) return raw;
  return {
    ...raw,
    criteria: Object.entries(criteria).map(([criterionId, v]) => (typeof v === 'object' && v !== null ? { criterionId, ...v } : { criterionId, levelId: v })),
  };
}

export function validateGradingOutput(raw: unknown, opts: ValidateGradingOptions): ValidateGradingResult {
  const { rubric, answer } = opts;
  const parsed = GradingOutputSchema.safeParse(criteriaAsList(raw));
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`),
    };
  }
  const out = parsed.data;
  const problems: string[] = [];
  // The answer normalised once for every quote of the grade (each used to normalise it again).
  let normalisedAnswer: string | undefined;
  const hay = () => (normalisedAnswer ??= normaliseText(answer));

  const seen = new Map<string, number>();
  out.criteria.forEach((c, i) => {
    const criterion = rubric.criteria.find((x) => x.id === c.criterionId);
    if (!criterion) {
      problems.push(`criteria.${i}.criterionId: unknown criterion "${c.criterionId}"`);
      return;
    }
    seen.set(c.criterionId, (seen.get(c.criterionId) ?? 0) + 1);
    if (!criterion.levels.some((l) => l.id === c.levelId)) {
      problems.push(`criteria.${i}.levelId: "${c.levelId}" is not a level of criterion "${c.criterionId}"`);
    }
    c.evidence.forEach((q, j) => {
      // As the learner wrote it, or as the prompt showed it to the model (escaped).
      if (!quoteOccursInNormalised(q, hay()) && !quoteOccursInNormalised(unescapeAnswerData(q), hay())) problems.push(`criteria.${i}.evidence.${j}: quote does not occur in the answer`);
    });
    if (!c.justification.trim()) problems.push(`criteria.${i}.justification: empty`);
  });
  for (const c of rubric.criteria) {
    const n = seen.get(c.id) ?? 0;
    if (n === 0) problems.push(`criteria: criterion "${c.id}" not graded`);
    else if (n > 1) problems.push(`criteria: criterion "${c.id}" graded ${n} times`);
  }

  const fb = out.feedback;
  if (!fb.nextStep.trim()) problems.push('feedback.nextStep: empty');
  if (!fb.strengths.some((s) => s.trim()) && !fb.improve.some((s) => s.trim())) {
    problems.push('feedback: neither strengths nor improve has any content');
  }
  if (opts.revealGuard) {
    const n = opts.revealNgram ?? DEFAULT_REVEAL_NGRAM;
    // Everything the learner is shown: the feedback and each criterion's justification.
    const texts: Array<[string, string]> = [
      ...fb.strengths.map((s, i): [string, string] => [`feedback.strengths.${i}`, s]),
      ...fb.improve.map((s, i): [string, string] => [`feedback.improve.${i}`, s]),
      ['feedback.nextStep', fb.nextStep],
      ...out.criteria.map((c, i): [string, string] => [`criteria.${i}.justification`, c.justification]),
    ];
    // Each reference's grams looked up once, each text split into words once (not once per
    // reference), the learner's words at most once: the same verdicts as sharedNgram's.
    const refs = rubric.referenceAnswers.map((ref) => referenceGrams(ref, n)).filter((r): r is ReferenceGrams => r !== undefined);
    let own: string | undefined;
    const ownOf = () => (own ??= ` ${words(answer).join(' ')} `);
    if (refs.length > 0) {
      for (const [path, text] of texts) {
        const t = words(text);
        for (const ref of refs) {
          if (firstSharedGram(t, ref, ownOf) !== undefined) {
            problems.push(`${path}: reveals the reference answer verbatim`);
            break;
          }
        }
      }
    }
  }

  if (problems.length) return { ok: false, problems };

  // Rubric order, so equal grades compare equal regardless of the model's order.
  const criteria = rubric.criteria.map((criterion) => {
    const c = out.criteria.find((x) => x.criterionId === criterion.id)!;
    const level = criterion.levels.find((l) => l.id === c.levelId)!;
    // Evidence is shown as the learner wrote it, not as the prompt escaped it ("-&gt;").
    const evidence = c.evidence.map((q) => (quoteOccursInNormalised(q, hay()) ? q : unescapeAnswerData(q)));
    return { criterionId: c.criterionId, levelId: c.levelId, points: level.points, evidence, justification: c.justification };
  });
  return {
    ok: true,
    grade: {
      score: scoreFromLevels(rubric, criteria),
      maxScore: maxScore(rubric),
      criteria,
      feedback: { strengths: fb.strengths, improve: fb.improve, nextStep: fb.nextStep },
      confidence: out.confidence,
    },
  };
}
