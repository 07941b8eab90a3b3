import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { readAttemptsTsv, groupByUser, type Attempt } from './attempt.js';
import { fitKnowledgeTracer, type FitOptions } from './fit-knowledge-tracer.js';
import { KnowledgeTracer, emptyLearnerState } from './knowledge-tracer.js';
import { auc, rmse } from './metrics.js';

export interface EvalKtOptions {
  trainFile: string;
  testFile: string;
  /** Writes `user_id\titem_id\tcorrect\tp` per test row, in the test file's order. */
  predictionsOut?: string;
  /** Keep only the first N users of each file (in file order); for quick checks. */
  maxTrainUsers?: number;
  maxTestUsers?: number;
  fit?: FitOptions;
}

export interface EvalKtResult {
  auc: number;
  rmse: number;
  n: number;
}

/**
 * Fits on the train file, then replays each test learner online: predict an attempt before
 * its answer is revealed, then update. One AUC is pooled over all test attempts, as in
 * Gervet et al. 2020.
 */
export async function evalKnowledgeTracing(opts: EvalKtOptions): Promise<EvalKtResult> {
  const [trainAll, testAll] = await Promise.all([readAttemptsTsv(opts.trainFile), readAttemptsTsv(opts.testFile)]);
  const train = firstUsers(trainAll, opts.maxTrainUsers);
  const test = firstUsers(testAll, opts.maxTestUsers);
  const tracer = new KnowledgeTracer(fitKnowledgeTracer(train, opts.fit));
  const { labels, scores } = predictOnline(tracer, test);
  if (opts.predictionsOut) await writePredictions(opts.predictionsOut, test, scores);
  return { auc: auc(labels, scores), rmse: rmse(labels, scores), n: test.length };
}

/** Scores are in row order of `rows`, whatever the interleaving of users. */
export function predictOnline(
  tracer: KnowledgeTracer,
  rows: readonly Attempt[],
): { labels: Uint8Array; scores: Float64Array } {
  const labels = new Uint8Array(rows.length);
  const scores = new Float64Array(rows.length);
  const states = new Map<string, ReturnType<typeof emptyLearnerState>>();
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    let s = states.get(r.userId);
    if (!s) states.set(r.userId, (s = emptyLearnerState()));
    scores[i] = tracer.predict(s, r.itemId, r.skillIds);
    labels[i] = r.correct ? 1 : 0;
    tracer.update(s, r.itemId, r.skillIds, r.correct);
  }
  return { labels, scores };
}

function firstUsers(rows: Attempt[], max: number | undefined): Attempt[] {
  if (max === undefined) return rows;
  const keep = new Set([...groupByUser(rows).keys()].slice(0, max));
  return rows.filter((r) => keep.has(r.userId));
}

async function writePredictions(file: string, rows: readonly Attempt[], scores: Float64Array): Promise<void> {
  const out = createWriteStream(file);
  const chunk: string[] = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    chunk.push(`${r.userId}\t${r.itemId}\t${r.correct ? 1 : 0}\t${scores[i]!.toFixed(6)}\n`);
    if (chunk.length === 4096 || i === rows.length - 1) {
      if (!out.write(chunk.join(''))) await once(out, 'drain');
      chunk.length = 0;
    }
  }
  out.end();
  await once(out, 'finish');
}
