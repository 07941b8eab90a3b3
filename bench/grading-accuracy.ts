// Agreement of the rules grader with SemEval-2013's gold labels (not a timing): 2-way
// accuracy and macro-F1 per corpus in the three settings `eval grading` offers (each answer
// alone, with the question's other answers as unlabelled peers, with 10-fold graded anchors),
// and how often an answer labelled "contradictory" (3-way) is credited as correct, the
// error a missed negation makes. `npx tsx bench/grading-accuracy.ts`; compare before and
// after any change to how answers are read (docs/benchmarks.md, "Grading accuracy").
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scoreQuestions, twoWayMetrics } from '../src/features/grading/eval-grading.js';
import { DEFAULT_RULES_PARAMS } from '../src/features/grading/rules-grader.js';
import { loadSemevalDir } from '../src/features/grading/semeval-loader.js';

const DATA = process.env.GRADING_DATA ?? '/work/shared/data/grading/semeval2013/training/3way';
const here = dirname(fileURLToPath(import.meta.url));

const SETTINGS = [
  { setting: 'alone', anchorFolds: 0, peers: false },
  { setting: 'peers', anchorFolds: 0, peers: true },
  { setting: 'anchors10', anchorFolds: 10, peers: true },
] as const;

const rows = [];
for (const corpus of ['beetle', 'sciEntsBank']) {
  const questions = await loadSemevalDir(join(DATA, corpus));
  const label = new Map(questions.flatMap((q) => q.studentAnswers.map((a) => [a.id, a.accuracy] as const)));
  for (const s of SETTINGS) {
    const scored = scoreQuestions(questions, {}, s.anchorFolds, s.peers);
    const pairs = scored.map((x) => ({ id: x.id, gold: x.gold, predicted: x.coverage >= DEFAULT_RULES_PARAMS.threshold ? ('correct' as const) : ('incorrect' as const) }));
    const contradictory = pairs.filter((p) => label.get(p.id) === 'contradictory');
    const m = twoWayMetrics(pairs);
    rows.push({
      corpus,
      setting: s.setting,
      n: pairs.length,
      accuracy: +m.accuracy.toFixed(4),
      macroF1: +m.macroF1.toFixed(4),
      contradictory: contradictory.length,
      contradictoryCredited: +(contradictory.filter((p) => p.predicted === 'correct').length / (contradictory.length || 1)).toFixed(4),
    });
  }
}
const result = { bench: 'grading-accuracy', data: DATA, threshold: DEFAULT_RULES_PARAMS.threshold, rows, node: process.version, at: new Date().toISOString() };
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'grading-accuracy.json'), JSON.stringify(result, null, 2) + '\n');
for (const r of rows) console.log(`${r.corpus.padEnd(12)} ${r.setting.padEnd(10)} n=${r.n} acc=${r.accuracy.toFixed(4)} F1=${r.macroF1.toFixed(4)} contradictory credited ${r.contradictoryCredited.toFixed(4)} of ${r.contradictory}`);
