// p50/p95 per answer of the free-tier path: rules grade, prompt build (for the
// premium path) and output validation, on real SemEval answers.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGradingPrompt } from '../src/features/grading/grading-prompt.js';
import { validateGradingOutput } from '../src/features/grading/grading-output.validator.js';
import { defaultRubric, type Rubric } from '../src/features/grading/rubric.schema.js';
import { rulesGrade } from '../src/features/grading/rules-grader.js';
import { loadSemevalDir } from '../src/features/grading/semeval-loader.js';
import { benchRubrics, demoRubric, GRADING_QUESTION, studentAnswer } from './fixtures.js';

const DATA = process.env.GRADING_DATA ?? '/work/shared/data/grading/semeval2013/training/2way/sciEntsBank';
const here = dirname(fileURLToPath(import.meta.url));

const questions = await loadSemevalDir(DATA);
const items = questions.flatMap((q) => {
  const rubric = defaultRubric(q.questionText, q.referenceAnswers[0] ?? '');
  return q.studentAnswers.map((a) => ({ rubric, question: q.questionText, answer: a.text, refs: q.referenceAnswers }));
});

const quantile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};

let valid = 0;
function run(n: number) {
  valid = 0;
  const total: number[] = [];
  const grade: number[] = [];
  const prompt: number[] = [];
  const validate: number[] = [];
  for (let i = 0; i < n; i++) {
    const it = items[i % items.length]!;
    const t0 = performance.now();
    const g = rulesGrade({ rubric: it.rubric, question: it.question, answer: it.answer, referenceAnswers: it.refs });
    const t1 = performance.now();
    buildGradingPrompt({ rubric: it.rubric, question: it.question, answer: it.answer });
    const t2 = performance.now();
    // Validate the rules grade as if a model had returned it: same shape and checks.
    const res = validateGradingOutput(
      { criteria: g.criteria.map(({ points: _p, ...c }) => c), feedback: g.feedback, confidence: g.confidence },
      { rubric: it.rubric, answer: it.answer, revealGuard: true },
    );
    const t3 = performance.now();
    if (res.ok) valid++;
    grade.push(t1 - t0);
    prompt.push(t2 - t1);
    validate.push(t3 - t2);
    total.push(t3 - t0);
  }
  return { total, grade, prompt, validate };
}

run(Math.min(2000, items.length)); // warm-up: JIT and the concept cache
const r = run(items.length);
const ms = (xs: number[]) => ({ p50: +quantile(xs, 0.5).toFixed(4), p95: +quantile(xs, 0.95).toFixed(4) });

// The rubrics the load bench grades with: the demo rubric (two criteria, no anchors) and a
// class-sized one (three criteria, twelve graded anchors), on unique answers as in a cache
// miss. Time per grade, and bytes allocated per grade (the inspector's sampling heap
// profiler, collected objects included), which is what the garbage collector pays for.
async function rubricRow(rubric: Rubric, n: number) {
  let seq = 0;
  const grade = () => rulesGrade({ rubric, question: GRADING_QUESTION, answer: studentAnswer(10_000_000 + seq++) });
  for (let i = 0; i < 2000; i++) grade();
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    grade();
    times.push(performance.now() - t0);
  }
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  for (let i = 0; i < n; i++) grade();
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  type Node = { selfSize: number; children: Node[] };
  const bytes = (node: Node): number => node.selfSize + node.children.reduce((s, c) => s + bytes(c), 0);
  return { rubric: rubric.id, criteria: rubric.criteria.length, anchors: rubric.anchors.length, msPerGrade: ms(times), kbAllocatedPerGrade: +(bytes(profile.head as Node) / n / 1024).toFixed(1) };
}
const rubricRows = [await rubricRow(demoRubric(), 5000), await rubricRow(benchRubrics()[0]!, 5000)];
const result = {
  bench: 'grading-rules',
  data: DATA,
  answers: items.length,
  unit: 'ms per answer',
  total: ms(r.total),
  rulesGrade: ms(r.grade),
  buildGradingPrompt: ms(r.prompt),
  validateGradingOutput: ms(r.validate),
  rulesGradeByRubric: rubricRows,
  // Share of rules grades that also pass the LLM-output validator (evidence quotes, feedback, reveal guard).
  rulesGradesPassingValidator: +(valid / items.length).toFixed(4),
  node: process.version,
  at: new Date().toISOString(),
};
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'grading-rules.json'), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
