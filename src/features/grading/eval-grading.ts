import { writeFile } from 'node:fs/promises';
import { DEFAULT_CRITERION_ID, defaultRubric } from './rubric.schema.js';
import { DEFAULT_RULES_PARAMS, rulesGrade, type RulesGraderParams } from './rules-grader.js';
import { loadSemevalDir, type SemevalQuestion, type TwoWayLabel } from './semeval-loader.js';

export interface EvalGradingOptions {
  dataDir: string;
  /** If given, the threshold and a few global weights are fitted here, never on dataDir. */
  trainDir?: string;
  predictionsOut?: string;
  /**
   * 0 (default): grade against reference answers only. K >= 2: additionally use
   * the question's other labelled answers as rubric anchors, K-fold within each
   * question, so an answer is never its own anchor (SemEval's "unseen answers"
   * setting, where labelled answers to the same question are available).
   */
  anchorFolds?: number;
  /**
   * true (default): each answer is graded with the question's other answers as
   * unlabelled peers (batch setting; their labels are never read), which adapts
   * the threshold per question. false: every answer on its own.
   */
  peers?: boolean;
}

export interface EvalGradingResult {
  accuracy: number;
  macroF1: number;
  n: number;
  params: RulesGraderParams;
}

export interface Scored {
  id: string;
  gold: TwoWayLabel;
  coverage: number;
}

export function scoreQuestions(
  questions: readonly SemevalQuestion[],
  params: Partial<RulesGraderParams> = {},
  anchorFolds = 0,
  usePeers = true,
): Scored[] {
  const out: Scored[] = [];
  for (const q of questions) {
    // Texts only: the labels of the peers are never passed on.
    const peerAnswers = usePeers ? q.studentAnswers.map((a) => a.text) : undefined;
    const base = defaultRubric(q.questionText, q.referenceAnswers[0] ?? '');
    const folds = anchorFolds >= 2 ? anchorFolds : 1;
    const rubrics = Array.from({ length: folds }, (_, k) =>
      folds === 1
        ? base
        : {
            ...base,
            // Fold by position: deterministic, and every answer lands in exactly one fold.
            anchors: q.studentAnswers
              .filter((_, i) => i % folds !== k)
              .map((a) => ({ answer: a.text, levels: { [DEFAULT_CRITERION_ID]: a.gold === 'correct' ? 'correct' : 'incorrect' } })),
          },
    );
    q.studentAnswers.forEach((a, i) => {
      const rubric = rubrics[i % folds]!;
      const g = rulesGrade({ rubric, question: q.questionText, answer: a.text, referenceAnswers: q.referenceAnswers, params, peerAnswers });
      out.push({ id: a.id, gold: a.gold, coverage: g.similarity });
    });
  }
  return out;
}

export function twoWayMetrics(pairs: ReadonlyArray<{ gold: TwoWayLabel; predicted: TwoWayLabel }>): { accuracy: number; macroF1: number } {
  let correct = 0;
  const f1 = (label: TwoWayLabel) => {
    let tp = 0, fp = 0, fn = 0;
    for (const p of pairs) {
      if (p.predicted === label && p.gold === label) tp++;
      else if (p.predicted === label) fp++;
      else if (p.gold === label) fn++;
    }
    return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
  };
  for (const p of pairs) if (p.gold === p.predicted) correct++;
  return { accuracy: pairs.length ? correct / pairs.length : 0, macroF1: (f1('correct') + f1('incorrect')) / 2 };
}

const predict = (s: Scored, threshold: number): TwoWayLabel => (s.coverage >= threshold ? 'correct' : 'incorrect');

/** Best 2-way threshold on already-scored answers (ties: the lower, more lenient one). */
export function fitThreshold(scored: readonly Scored[]): { threshold: number; accuracy: number } {
  let best = { threshold: DEFAULT_RULES_PARAMS.threshold, accuracy: -1 };
  for (let t = 0.2; t <= 0.9 + 1e-9; t += 0.01) {
    const threshold = Math.round(t * 100) / 100;
    const { accuracy } = twoWayMetrics(scored.map((s) => ({ gold: s.gold, predicted: predict(s, threshold) })));
    if (accuracy > best.accuracy + 1e-12) best = { threshold, accuracy };
  }
  return best;
}

// Kept deliberately small: a few global weights, never per-question parameters.
const GRID = {
  questionWeight: [0.3, 0.6, 1],
  precisionWeight: [0, 0.15, 0.3],
  anchorWeight: [0.5, 0.7, 0.9],
};

export function fitParams(questions: readonly SemevalQuestion[], anchorFolds = 0, usePeers = true): { params: RulesGraderParams; accuracy: number } {
  let best = { params: { ...DEFAULT_RULES_PARAMS }, accuracy: -1 };
  const anchorWeights = anchorFolds >= 2 ? GRID.anchorWeight : [DEFAULT_RULES_PARAMS.anchorWeight];
  for (const questionWeight of GRID.questionWeight) {
    for (const precisionWeight of GRID.precisionWeight) {
      for (const anchorWeight of anchorWeights) {
        const p = { ...DEFAULT_RULES_PARAMS, questionWeight, precisionWeight, anchorWeight };
        const { threshold, accuracy } = fitThreshold(scoreQuestions(questions, p, anchorFolds, usePeers));
        if (accuracy > best.accuracy + 1e-12) {
          best = { params: { ...p, threshold, lowThreshold: Math.round((threshold / 2) * 100) / 100 }, accuracy };
        }
      }
    }
  }
  return best;
}

/**
 * 2-way evaluation of the rules grader on SemEval-2013 Task 7 files under
 * dataDir. Each answer is graded against its own question's reference answers
 * only ("unseen answers": no labelled student answers are used as examples).
 */
export async function evalGrading(opts: EvalGradingOptions): Promise<EvalGradingResult> {
  const data = await loadSemevalDir(opts.dataDir);
  const folds = opts.anchorFolds ?? 0;
  const usePeers = opts.peers ?? true;
  const params = opts.trainDir ? fitParams(await loadSemevalDir(opts.trainDir), folds, usePeers).params : { ...DEFAULT_RULES_PARAMS };
  const scored = scoreQuestions(data, params, folds, usePeers);
  const pairs = scored.map((s) => ({ id: s.id, gold: s.gold, predicted: predict(s, params.threshold) }));
  if (opts.predictionsOut) {
    await writeFile(opts.predictionsOut, pairs.map((p) => `${p.id}\t${p.gold}\t${p.predicted}\n`).join(''), 'utf8');
  }
  return { ...twoWayMetrics(pairs), n: pairs.length, params };
}
