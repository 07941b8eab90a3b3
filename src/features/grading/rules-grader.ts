import { canonicalConcept, extractConcepts, tokenize, withinEditDistance, type ConceptToken } from './concept-extractor.js';
import { antonymOf } from './lexicon-science.js';
import { criterionMaxPoints, maxScore, scoreFromLevels, type Rubric, type RubricCriterion } from './rubric.schema.js';

export interface GradeFeedback {
  strengths: string[];
  improve: string[];
  nextStep: string;
}

export interface CriterionGrade {
  criterionId: string;
  levelId: string;
  points: number;
  evidence: string[];
  justification: string;
}

/** Shared by the rules grader and the validated LLM output, so callers can swap one for the other. */
export interface Grade {
  score: number;
  maxScore: number;
  criteria: CriterionGrade[];
  feedback: GradeFeedback;
  confidence: number;
}

export interface RulesGrade extends Grade {
  /** Weighted share of the best-matching reference answer's concepts found (with the right polarity), 0..1. */
  coverage: number;
  /** What the levels were chosen from: coverage refined by descriptors and blended with the anchor vote (mean over criteria), 0..1. */
  similarity: number;
  matchedConcepts: string[];
  missingConcepts: string[];
}

/**
 * The handful of global knobs the evaluation may fit. Defaults were chosen on
 * Beetle questions only (see eval-grading.ts) and are reported on SciEntsBank.
 */
export interface RulesGraderParams {
  /** Weight of a reference concept that the question already contains: repeating the question proves little. */
  questionWeight: number;
  /** Share of the similarity that rewards answers whose own content is all on-reference (precision). */
  precisionWeight: number;
  /** Subtracted per unit of contradicted (opposite polarity) reference weight. */
  contradictionPenalty: number;
  /** Similarity at or above which the top level (and the 2-way "correct") is awarded. */
  threshold: number;
  /** Below this similarity the bottom level is awarded; in between, intermediate levels. */
  lowThreshold: number;
  /** Share of the similarity taken from the graded anchor answers (nearest-neighbour vote) when the rubric has anchors. */
  anchorWeight: number;
  /** How many most similar anchors vote. */
  anchorK: number;
  /**
   * With peer answers (other, unlabelled answers to the same question): share of
   * the gap between the peers' mean reference similarity and PEER_CENTER that is
   * taken off every answer's similarity. Unsupervised per-question threshold:
   * where most answers already echo the reference, echoing it proves less.
   */
  peerShift: number;
}

export const DEFAULT_RULES_PARAMS: Readonly<RulesGraderParams> = Object.freeze({
  questionWeight: 0.3,
  precisionWeight: 0,
  contradictionPenalty: 1,
  threshold: 0.6,
  lowThreshold: 0.3,
  anchorWeight: 0.7,
  anchorK: 5,
  peerShift: 0.8,
});

/** Peer-mean reference similarity at which the peer shift is zero (a typical Beetle question). */
export const PEER_CENTER = 0.51;
/** Fewer unlabelled peers than this give too noisy a mean: no peer shift. */
export const MIN_PEERS = 5;

export interface RulesGradeInput {
  rubric: Rubric;
  question?: string;
  answer: string;
  /** Defaults to the rubric's reference answers. */
  referenceAnswers?: readonly string[];
  params?: Partial<RulesGraderParams>;
  /**
   * Other answers to the same question, unlabelled (batch grading; may include
   * this answer). Only their reference-similarity distribution is used, to adapt
   * the threshold to the question; ignored when the rubric's anchors calibrate it.
   */
  peerAnswers?: readonly string[];
}

interface RefConcept {
  concept: string;
  negated: boolean;
  surface: string;
  weight: number;
}

interface Match {
  similarity: number;
  matched: RefConcept[];
  missing: RefConcept[];
  contradicted: RefConcept[];
  matchedAnswerIdx: Set<number>;
}

// Rubric boilerplate ("mentions", "correctly", "key idea") must not count as
// subject concepts when a criterion's descriptors are mined for content.
const GENERIC_RUBRIC_CONCEPTS = new Set(
  (
    'mention mentions mentioned explain explains explanation state states stated describe describes identify identifies ' +
    'answer answers student response includes include including correct correctly incorrect incorrectly partially partial ' +
    'key idea ideas reference present missing wrong contradict contradicted contradicts complete incomplete level point points ' +
    'clearly clear accurate accurately vague imprecise off topic shows show gives give provides provide some none ' +
    'least two three full fully relevant irrelevant nothing say says names name link links linking gives without ' +
    'such wrong'
  )
    .split(/\s+/)
    .map(canonicalConcept),
);

// Reference answers, questions, descriptors and anchors repeat across every
// answer to the same question; caching their analysis makes batch grading cheap.
const conceptCache = new Map<string, ConceptToken[]>();
function conceptsOf(text: string): ConceptToken[] {
  let c = conceptCache.get(text);
  if (!c) {
    if (conceptCache.size > 50_000) conceptCache.clear();
    c = extractConcepts(text);
    conceptCache.set(text, c);
  }
  return c;
}

const conceptKey = (c: { concept: string; negated: boolean }) => (c.negated ? `¬${c.concept}` : c.concept);

function dedupeConcepts(tokens: ConceptToken[], questionConcepts: Set<string>, qWeight: number): RefConcept[] {
  const seen = new Map<string, RefConcept>();
  for (const t of tokens) {
    const k = conceptKey(t);
    if (!seen.has(k)) {
      seen.set(k, { concept: t.concept, negated: t.negated, surface: t.surface, weight: questionConcepts.has(t.concept) ? qWeight : 1 });
    }
  }
  return [...seen.values()];
}

// The analysis of a rubric's texts (its references, descriptors and anchors) depends only
// on those texts, the question's concepts and the question weight, and a rubric is graded
// against the same question answer after answer. So it is remembered per analysed text
// (the token array conceptsOf keeps) or per criterion, for the question-concept set and
// weight it was made with; the set is itself one object per question (questionConceptSet).
// Worked out again when either differs; dropped with its key.
interface Remembered<V> {
  questionConcepts: Set<string>;
  qWeight: number;
  value: V;
}
function remembered<K extends object, V>(cache: WeakMap<K, Remembered<V>>, key: K, questionConcepts: Set<string>, qWeight: number, make: () => V): V {
  const hit = cache.get(key);
  if (hit && hit.questionConcepts === questionConcepts && hit.qWeight === qWeight) return hit.value;
  const value = make();
  cache.set(key, { questionConcepts, qWeight, value });
  return value;
}

const questionSets = new WeakMap<ConceptToken[], Set<string>>();
function questionConceptSet(question: string): Set<string> {
  const tokens = conceptsOf(question);
  let set = questionSets.get(tokens);
  if (!set) {
    set = new Set(tokens.map((c) => c.concept));
    questionSets.set(tokens, set);
  }
  return set;
}

const refConcepts = new WeakMap<ConceptToken[], Remembered<RefConcept[]>>();
const referenceConcepts = (text: string, questionConcepts: Set<string>, qWeight: number): RefConcept[] => {
  const tokens = conceptsOf(text);
  return remembered(refConcepts, tokens, questionConcepts, qWeight, () => dedupeConcepts(tokens, questionConcepts, qWeight));
};

// Typos ("seperated", "conected") are frequent in student answers; allow one
// edit for longer stems, never for short ones where a single edit changes meaning.
// Answers repeat the same few words against the same reference concepts, so the
// (answer concept, reference concept) verdicts are remembered (bounded like conceptCache).
// Lengths further apart than the edits allowed are told apart without a lookup.
const sameCache = new Map<string, Map<string, boolean>>();
let sameCacheSize = 0;
function sameConcept(a: string, b: string): boolean {
  if (a === b) return true;
  if (a.length < 5 || b.length < 5) return false;
  const limit = a.length >= 8 ? 2 : 1;
  if (Math.abs(a.length - b.length) > limit) return false;
  if (sameCacheSize > 200_000) {
    sameCache.clear();
    sameCacheSize = 0;
  }
  let verdicts = sameCache.get(a);
  if (!verdicts) sameCache.set(a, (verdicts = new Map()));
  let same = verdicts.get(b);
  if (same === undefined) {
    same = !/\d/.test(a) && !/\d/.test(b) && withinEditDistance(a, b, limit);
    verdicts.set(b, same);
    sameCacheSize++;
  }
  return same;
}

function matchAgainst(ref: RefConcept[], answer: ConceptToken[], questionConcepts: Set<string>, p: RulesGraderParams): Match {
  const matched: RefConcept[] = [];
  const missing: RefConcept[] = [];
  const contradicted: RefConcept[] = [];
  const matchedAnswerIdx = new Set<number>();
  let total = 0;
  let got = 0;
  let bad = 0;
  for (const rc of ref) {
    total += rc.weight;
    let same = false;
    let agreeing = false;
    for (const a of answer) {
      if (!sameConcept(a.concept, rc.concept)) continue;
      same = true;
      if (a.negated === rc.negated) {
        agreeing = true;
        matchedAnswerIdx.add(a.index);
      }
    }
    if (agreeing) {
      got += rc.weight;
      matched.push(rc);
    } else {
      missing.push(rc);
      // Same concept with the opposite polarity, or its antonym asserted ("decrease" for "increase").
      const opposite = antonymOf(rc.concept);
      if (same || (opposite !== undefined && answer.some((a) => a.concept === opposite && a.negated === rc.negated))) {
        contradicted.push(rc);
        bad += rc.weight;
      }
    }
  }
  const recall = total > 0 ? got / total : 0;
  // Precision over the answer's own content that the question did not supply.
  let own = 0;
  let ownHit = 0;
  for (const a of answer) {
    if (questionConcepts.has(a.concept)) continue;
    own++;
    if (matchedAnswerIdx.has(a.index)) ownHit++;
  }
  const precision = own ? ownHit / own : 0;
  const raw = (1 - p.precisionWeight) * recall + p.precisionWeight * precision - p.contradictionPenalty * (total > 0 ? bad / total : 0);
  return { similarity: Math.max(0, Math.min(1, raw)), matched, missing, contradicted, matchedAnswerIdx };
}

// Where a question's anchor-learnt cutoff is moved to. A constant (not the
// threshold) so that fitting the threshold does not move the similarities.
const CALIBRATED_CUTOFF = 0.5;

const clamp01 = (x: number): number => Math.max(0, Math.min(1, x));

const EMPTY_MATCH: Match = { similarity: 0, matched: [], missing: [], contradicted: [], matchedAnswerIdx: new Set() };

function referenceMatch(answer: ConceptToken[], references: readonly string[], questionConcepts: Set<string>, p: RulesGraderParams): Match {
  let best: Match | undefined;
  for (const ref of references) {
    const m = matchAgainst(referenceConcepts(ref, questionConcepts, p.questionWeight), answer, questionConcepts, p);
    if (!best || m.similarity > best.similarity) best = m;
  }
  return best ?? EMPTY_MATCH;
}

// What the analyses remembered below depend on besides the rubric: the scoring params,
// the question's concepts and the reference answers. Made once per grade, when needed.
function analysisContext(references: readonly string[], questionConcepts: Set<string>, p: RulesGraderParams): string {
  return `${p.questionWeight}\u0000${p.precisionWeight}\u0000${p.contradictionPenalty}\u0000${[...questionConcepts].join(' ')}\u0000${references.join('\u0001')}`;
}

// Per peer array: batch grading passes the same array for every answer of a question.
const peerCache = new WeakMap<readonly string[], Map<string, number | undefined>>();

/** Mean reference similarity of the peer answers, or undefined with too few of them. */
function peerMean(peers: readonly string[], references: readonly string[], questionConcepts: Set<string>, p: RulesGraderParams, context: () => string): number | undefined {
  const key = context();
  let perPeers = peerCache.get(peers);
  if (!perPeers) peerCache.set(peers, (perPeers = new Map()));
  if (perPeers.has(key)) return perPeers.get(key);
  const texts = peers.filter((t) => t.trim());
  if (texts.length < MIN_PEERS) return undefined;
  let sum = 0;
  for (const t of texts) sum += referenceMatch(extractConcepts(t), references, questionConcepts, p).similarity;
  const mean = sum / texts.length;
  perPeers.set(key, mean);
  return mean;
}

// Per rubric object: batch grading reuses one rubric for many answers.
const cutoffCache = new WeakMap<Rubric, Map<string, Map<string, number | undefined>>>();

/**
 * The reference-coverage value that best separates this rubric's top-level
 * anchors from the rest, or undefined without both kinds of anchor.
 */
function anchorCutoff(
  rubric: Rubric,
  criterion: RubricCriterion,
  references: readonly string[],
  questionConcepts: Set<string>,
  p: RulesGraderParams,
  context: () => string,
): number | undefined {
  if (!rubric.anchors.length || p.anchorWeight <= 0) return undefined;
  let perRubric = cutoffCache.get(rubric);
  if (!perRubric) cutoffCache.set(rubric, (perRubric = new Map()));
  const key = context();
  let perContext = perRubric.get(key);
  if (!perContext) perRubric.set(key, (perContext = new Map()));
  if (perContext.has(criterion.id)) return perContext.get(criterion.id);
  const max = criterionMaxPoints(criterion);
  const points: Array<{ sim: number; top: boolean }> = [];
  for (const a of rubric.anchors) {
    const level = criterion.levels.find((l) => l.id === a.levels[criterion.id]);
    if (level) points.push({ sim: referenceMatch(conceptsOf(a.answer), references, questionConcepts, p).similarity, top: level.points >= max });
  }
  let cutoff: number | undefined;
  if (points.some((x) => x.top) && points.some((x) => !x.top)) {
    const values = [...new Set(points.map((x) => x.sim))].sort((a, b) => a - b);
    const candidates = [values[0]! - 1e-6, ...values.slice(1).map((v, i) => (v + values[i]!) / 2), values[values.length - 1]! + 1e-6];
    const accuracy = candidates.map((c) => points.filter((x) => (x.sim >= c) === x.top).length);
    const top = Math.max(...accuracy);
    const tied = candidates.filter((_, i) => accuracy[i] === top);
    // Middle of the equally good range: the widest margin on both sides.
    cutoff = (tied[0]! + tied[tied.length - 1]!) / 2;
  }
  perContext.set(criterion.id, cutoff);
  return cutoff;
}

/** A text's concepts (polarity-aware) with their weights: question words count less. */
interface WeightedConcepts {
  weights: Map<string, number>;
  sum: number;
}
function weighConcepts(tokens: ConceptToken[], questionConcepts: Set<string>, qWeight: number): WeightedConcepts {
  const weights = new Map<string, number>();
  for (const t of tokens) weights.set(conceptKey(t), questionConcepts.has(t.concept) ? qWeight : 1);
  let sum = 0;
  weights.forEach((w) => (sum += w));
  return { weights, sum };
}
const anchorWeights = new WeakMap<ConceptToken[], Remembered<WeightedConcepts>>();
const weighedAnchor = (text: string, questionConcepts: Set<string>, qWeight: number): WeightedConcepts => {
  const tokens = conceptsOf(text);
  return remembered(anchorWeights, tokens, questionConcepts, qWeight, () => weighConcepts(tokens, questionConcepts, qWeight));
};

/** Weighted concept-set F1 between two texts. */
function conceptF1(a: WeightedConcepts, b: WeightedConcepts): number {
  let inter = 0;
  // forEach, not for…of: no [key, value] array per entry.
  a.weights.forEach((w, k) => {
    if (b.weights.has(k)) inter += w;
  });
  return a.sum + b.sum > 0 ? (2 * inter) / (a.sum + b.sum) : 0;
}

// Per rubric and criterion: the level fraction (points / the criterion's maximum) each
// anchor was graded at, undefined where an anchor does not grade the criterion.
const fractionsCache = new WeakMap<Rubric, Map<string, Array<number | undefined>>>();
function anchorFractions(rubric: Rubric, criterion: RubricCriterion): Array<number | undefined> {
  let perRubric = fractionsCache.get(rubric);
  if (!perRubric) fractionsCache.set(rubric, (perRubric = new Map()));
  let fractions = perRubric.get(criterion.id);
  if (!fractions) {
    const max = criterionMaxPoints(criterion);
    fractions = rubric.anchors.map((anchor) => {
      const level = criterion.levels.find((l) => l.id === anchor.levels[criterion.id]);
      return level ? (max > 0 ? level.points / max : 0) : undefined;
    });
    perRubric.set(criterion.id, fractions);
  }
  return fractions;
}

/**
 * Nearest-neighbour vote over the rubric's graded anchor answers: the level
 * fraction of the most similar anchors, weighted by similarity. Undefined when
 * no anchor grades this criterion or none shares a concept with the answer.
 * `similarities`: the answer's concept F1 with each anchor, in the rubric's order (the
 * same for every criterion, so worked out once per grade).
 */
function anchorVote(rubric: Rubric, criterion: RubricCriterion, similarities: () => number[], p: RulesGraderParams): number | undefined {
  if (!rubric.anchors.length || p.anchorWeight <= 0) return undefined;
  const fractions = anchorFractions(rubric, criterion);
  const sims = similarities();
  // The k most similar anchors that grade this criterion, most similar first and ties in
  // the rubric's order: the first k of a stable sort, picked without sorting.
  const top: number[] = [];
  for (let pick = Math.max(1, p.anchorK); pick > 0; pick--) {
    let best = -1;
    for (let i = 0; i < sims.length; i++) {
      if (fractions[i] === undefined || !(sims[i]! > 0) || top.includes(i)) continue;
      if (best < 0 || sims[i]! > sims[best]!) best = i;
    }
    if (best < 0) break;
    top.push(best);
  }
  if (!top.length) return undefined;
  let total = 0;
  for (const i of top) total += sims[i]!;
  let vote = 0;
  for (const i of top) vote += sims[i]! * fractions[i]!;
  return vote / total;
}

// `levels`: the criterion's levels, most points first.
function pickLevel(levels: RubricCriterion['levels'], similarity: number, p: RulesGraderParams) {
  const top = levels[0]!;
  const bottom = levels[levels.length - 1]!;
  if (similarity >= p.threshold) return top;
  const middle = levels.slice(1, -1);
  if (similarity < p.lowThreshold || middle.length === 0) return bottom;
  // Spread intermediate levels evenly over [lowThreshold, threshold).
  const pos = (similarity - p.lowThreshold) / (p.threshold - p.lowThreshold);
  const i = Math.min(middle.length - 1, Math.floor((1 - pos) * middle.length));
  return middle[i]!;
}

// A sentence is evidence when one of the matched words is one of its words, found by token
// position: the answer's tokens are its sentences' tokens one after the other (sentences
// split at whitespace or after a sentence mark, where no token runs across). Looking for the
// word as a substring quoted "We split the wire." for a matched "lit", and missed a word
// written with a zero-width non-joiner (Persian "می‌کند"), which tokens drop.
function evidenceSentences(sentences: readonly AnswerSentence[], matchedAnswerIdx: Set<number>): string[] {
  const out: string[] = [];
  for (const { text, start, end } of sentences) {
    let has = false;
    for (const i of matchedAnswerIdx) if (i >= start && i < end) has = true;
    if (has) out.push(text.length > 200 ? graphemePrefix(text, 200) : text);
    if (out.length >= 3) break;
  }
  return out;
}

interface AnswerSentence {
  text: string;
  /** the sentence's tokens are the answer's tokens start..end-1 */
  start: number;
  end: number;
}

// The answer's sentences with their token ranges, split and tokenized once per grade (not
// once per criterion). Chinese, Japanese, Arabic and Hindi sentences end in their own marks,
// with no space after them.
function answerSentences(answer: string): AnswerSentence[] {
  const out: AnswerSentence[] = [];
  let start = 0;
  for (const text of answer.split(/(?<=[.!?;])\s+|(?<=[。！？；؟।])\s*/u)) {
    const t = text.trim();
    if (!t) continue;
    const end = start + tokenize(t).length;
    out.push({ text: t, start, end });
    start = end;
  }
  return out;
}

const graphemes = new Intl.Segmenter('und', { granularity: 'grapheme' });
/** The longest prefix of at most `max` UTF-16 units that does not cut a character (a surrogate pair, an accent, an emoji sequence). */
export function graphemePrefix(s: string, max: number): string {
  let end = 0;
  for (const g of graphemes.segment(s)) {
    if (g.index + g.segment.length > max) break;
    end = g.index + g.segment.length;
  }
  return s.slice(0, end);
}

const quoteList = (xs: string[]): string => xs.map((x) => `"${x}"`).join(', ');

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

// A criterion's levels, most points first, and the subject concepts of its top level's
// descriptor (rubric boilerplate left out).
const criterionCache = new WeakMap<RubricCriterion, Remembered<{ levels: RubricCriterion['levels']; specific: RefConcept[] }>>();
function criterionConcepts(criterion: RubricCriterion, questionConcepts: Set<string>, qWeight: number) {
  return remembered(criterionCache, criterion, questionConcepts, qWeight, () => {
    const levels = [...criterion.levels].sort((a, b) => b.points - a.points);
    const specific = dedupeConcepts(
      conceptsOf(levels[0]!.descriptor).filter((c) => !GENERIC_RUBRIC_CONCEPTS.has(c.concept)),
      questionConcepts,
      qWeight,
    );
    return { levels, specific };
  });
}

/**
 * Deterministic, explainable grade from concept coverage of the best-matching
 * reference answer. Used as the free tier and as the fallback whenever the LLM
 * path fails validation.
 */
export function rulesGrade(input: RulesGradeInput): RulesGrade {
  const p: RulesGraderParams = { ...DEFAULT_RULES_PARAMS, ...input.params };
  const { rubric, answer } = input;
  const question = input.question ?? rubric.question ?? '';
  const references = (input.referenceAnswers ?? rubric.referenceAnswers).filter((r) => r.trim());
  const questionConcepts = questionConceptSet(question);
  const answerTokens = extractConcepts(answer);
  let sentences: AnswerSentence[] | undefined;
  let context: string | undefined;
  const analysis = () => (context ??= analysisContext(references, questionConcepts, p));
  let anchorSimilarities: number[] | undefined;
  const toAnchors = () => {
    if (!anchorSimilarities) {
      const own = weighConcepts(answerTokens, questionConcepts, p.questionWeight);
      anchorSimilarities = rubric.anchors.map((a) => conceptF1(own, weighedAnchor(a.answer, questionConcepts, p.questionWeight)));
    }
    return anchorSimilarities;
  };
  const descriptorParams = { ...p, precisionWeight: 0 };

  const best = referenceMatch(answerTokens, references, questionConcepts, p);
  const peers = input.peerAnswers && p.peerShift > 0 ? peerMean(input.peerAnswers, references, questionConcepts, p, analysis) : undefined;

  const multi = rubric.criteria.length > 1;
  const similarities: number[] = [];
  const criteria: CriterionGrade[] = rubric.criteria.map((criterion) => {
    const { levels, specific } = criterionConcepts(criterion, questionConcepts, p.questionWeight);
    const cutoff = anchorCutoff(rubric, criterion, references, questionConcepts, p, analysis);
    // Shift so this question's own cutoff (learnt from its graded anchors) lands
    // on the global threshold: reference answers differ a lot in length and
    // wording, so a raw coverage threshold transfers poorly between questions.
    // Without anchors, unlabelled peers still tell how easy this question's
    // reference is to echo: shift by the peers' mean similarity instead.
    const refSimilarity =
      cutoff !== undefined
        ? clamp01(best.similarity - cutoff + CALIBRATED_CUTOFF)
        : peers !== undefined
          ? clamp01(best.similarity - p.peerShift * (peers - PEER_CENTER))
          : best.similarity;
    let similarity = refSimilarity;
    let idx = best.matchedAnswerIdx;
    let matchedHere = best.matched;
    let missingHere = best.missing;
    if (specific.length >= 2) {
      const m = matchAgainst(specific, answerTokens, questionConcepts, descriptorParams);
      // Descriptors list alternatives ("vapour or gas"), so full marks must not
      // need every word of them: three quarters of the weight counts as complete.
      m.similarity = Math.min(1, m.similarity / 0.75);
      // With several criteria each one judges its own content; with a single
      // criterion the descriptor only refines the reference-answer coverage.
      similarity = multi ? m.similarity : (refSimilarity + m.similarity) / 2;
      if (multi) {
        idx = m.matchedAnswerIdx;
        matchedHere = m.matched;
        missingHere = m.missing;
      }
    }
    const vote = anchorVote(rubric, criterion, toAnchors, p);
    if (vote !== undefined) similarity = (1 - p.anchorWeight) * similarity + p.anchorWeight * vote;
    similarities.push(similarity);
    const level = pickLevel(levels, similarity, p);
    const found = unique(matchedHere.map((c) => c.surface));
    const lacking = unique(missingHere.filter((c) => c.weight >= 1).map((c) => c.surface));
    const justification =
      `${Math.round(similarity * 100)}% concept match → "${level.id}" (${level.points}/${criterionMaxPoints(criterion)}). ` +
      (found.length ? `Found: ${found.slice(0, 6).join(', ')}. ` : 'No key concepts found. ') +
      (lacking.length ? `Not found: ${lacking.length} key concept(s).` : '');
    return {
      criterionId: criterion.id,
      levelId: level.id,
      points: level.points,
      evidence: idx.size === 0 ? [] : evidenceSentences((sentences ??= answerSentences(answer)), idx),
      justification: justification.trim(),
    };
  });

  const score = scoreFromLevels(rubric, criteria);
  const max = maxScore(rubric);
  const matchedConcepts = unique(best.matched.map((c) => conceptKey(c)));
  const missingConcepts = unique(best.missing.map((c) => conceptKey(c)));

  const feedback = buildFeedback(best, answerTokens, score >= max && max > 0);
  // Near the threshold the call could go either way; contradictions and very
  // short answers make the concept count a weaker signal still.
  const similarity = similarities.reduce((a, b) => a + b, 0) / similarities.length;
  const margin = Math.abs(similarity - p.threshold);
  let confidence = 0.5 + Math.min(0.45, margin * 1.2);
  if (best.contradicted.length) confidence -= 0.1;
  if (answerTokens.length < 3) confidence -= 0.1;
  confidence = Math.round(Math.max(0.05, Math.min(0.95, confidence)) * 100) / 100;

  return {
    score,
    maxScore: max,
    criteria,
    feedback,
    confidence,
    coverage: Math.round(best.similarity * 1000) / 1000,
    similarity: Math.round(similarity * 1000) / 1000,
    matchedConcepts,
    missingConcepts,
  };
}

// Feedback names the student's own words for strengths and at most a few single
// missing keywords as hints: never a phrase lifted from the reference answer.
function buildFeedback(best: Match, answerTokens: ConceptToken[], full: boolean): GradeFeedback {
  const ownWords = unique(answerTokens.filter((t) => best.matchedAnswerIdx.has(t.index)).map((t) => t.surface)).slice(0, 4);
  const missing = unique(best.missing.filter((c) => c.weight >= 1 && !best.contradicted.includes(c)).map((c) => c.surface)).slice(0, 3);
  const contradicted = unique(best.contradicted.map((c) => c.surface)).slice(0, 2);
  const strengths: string[] = [];
  const improve: string[] = [];
  if (ownWords.length) strengths.push(`You used relevant ideas: ${quoteList(ownWords)}.`);
  if (full) strengths.push('Your answer covers the key points expected for this question.');
  for (const c of contradicted) improve.push(`Check what you said about "${c}": it points the opposite way from the expected reasoning.`);
  if (!full && missing.length) improve.push(`Your answer does not yet address ${missing.length === 1 ? 'the idea of' : 'the ideas of'} ${quoteList(missing)}.`);
  if (!full && !ownWords.length) improve.push('Your answer does not yet connect to the key ideas of the question.');
  const nextStep = full
    ? 'Try explaining the reason behind your answer in one more sentence, using a scientific term.'
    : contradicted.length
      ? `Reread the question and decide whether "${contradicted[0]}" really applies here, then explain why.`
      : missing.length
        ? `Explain how "${missing[0]}" relates to the question in your own words.`
        : 'State the key idea more precisely and explain why it answers the question.';
  return { strengths, improve, nextStep };
}
