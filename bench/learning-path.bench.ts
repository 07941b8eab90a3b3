/**
 * Learning-path benchmark: rules recommendation latency on a 2,000-item catalog, cost of one
 * knowledge-tracing update, and the full ASSISTments 2009 evaluation wall time.
 * Run: npx tsx bench/learning-path.bench.ts   (writes bench/results/learning-path.json)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readAttemptsTsv } from '../src/features/learning-path/kt/attempt.js';
import { evalKnowledgeTracing } from '../src/features/learning-path/kt/eval-kt.js';
import { fitKnowledgeTracer } from '../src/features/learning-path/kt/fit-knowledge-tracer.js';
import { KnowledgeTracer, emptyLearnerState } from '../src/features/learning-path/kt/knowledge-tracer.js';
import { prepareCatalog } from '../src/features/learning-path/prepared-catalog.js';
import { recommend, type HistoryEntry } from '../src/features/learning-path/rules-recommender.js';
import { syntheticCatalog } from '../src/features/learning-path/synthetic-catalog.js';

const DATA = process.env['KT_DATA'] ?? '/work/shared/data/kt/assistments09';
const here = dirname(fileURLToPath(import.meta.url));

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function benchRecommend() {
  const catalog = syntheticCatalog(200, 2000);
  const t0 = performance.now();
  const pc = prepareCatalog(catalog);
  const prepareMs = performance.now() - t0;
  const mastery = new Map(catalog.skills.map((s, i) => [s.id, ((i * 37) % 100) / 100]));
  const now = Date.UTC(2025, 0, 15);
  // A realistic learner: 300 past attempts spread over two months.
  const history: HistoryEntry[] = Array.from({ length: 300 }, (_, i) => ({
    itemId: catalog.items[(i * 7) % catalog.items.length]!.id,
    at: now - i * 4 * 3_600_000,
    correct: i % 3 !== 0,
  }));
  const args = {
    catalog: pc,
    mastery: (s: string) => mastery.get(s) ?? 0,
    pSuccess: (it: { difficulty: number }) => 1 - it.difficulty * 0.8,
    history,
    goal: 's150',
    count: 10,
    tier: 'premium',
    now,
  };
  for (let i = 0; i < 300; i++) recommend(args);
  const times: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t = performance.now();
    recommend(args);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const candidates = recommend({ ...args, count: 2000 }).items.length;
  return { items: 2000, skills: 200, historyLength: 300, candidates, prepareMs, p50Ms: quantile(times, 0.5), p99Ms: quantile(times, 0.99) };
}

async function benchKtUpdate() {
  const train = await readAttemptsTsv(join(DATA, 'train.tsv'));
  const t0 = performance.now();
  const params = fitKnowledgeTracer(train);
  const fitMs = performance.now() - t0;
  const kt = new KnowledgeTracer(params);
  const test = await readAttemptsTsv(join(DATA, 'test.tsv'));
  const rows = test.slice(0, 20_000);
  const run = (withPredict: boolean) => {
    let state = emptyLearnerState();
    let user = '';
    let sink = 0;
    const t = process.hrtime.bigint();
    for (let rep = 0; rep < 5; rep++) {
      for (const r of rows) {
        if (r.userId !== user) {
          user = r.userId;
          state = emptyLearnerState();
        }
        if (withPredict) sink += kt.predict(state, r.itemId, r.skillIds);
        kt.update(state, r.itemId, r.skillIds, r.correct);
      }
    }
    return { ns: Number(process.hrtime.bigint() - t) / (5 * rows.length), sink };
  };
  run(true);
  const update = run(false);
  const both = run(true);
  return { fitMs, l2: params.l2, paramsJsonBytes: JSON.stringify(params).length, nsPerUpdate: update.ns, nsPerPredictAndUpdate: both.ns };
}

async function benchEval() {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const r = await evalKnowledgeTracing({ trainFile: join(DATA, 'train.tsv'), testFile: join(DATA, 'test.tsv') });
  const cpu = process.cpuUsage(cpu0);
  return { ...r, wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
}

const recommendation = benchRecommend();
const ktUpdate = await benchKtUpdate();
const evalKt = await benchEval();
const result = { at: new Date().toISOString(), node: process.version, recommendation, ktUpdate, evalKt };
await mkdir(join(here, 'results'), { recursive: true });
await writeFile(join(here, 'results', 'learning-path.json'), `${JSON.stringify(result, null, 2)}\n`);
const f = (x: number, d = 2) => x.toFixed(d);
console.table({
  'recommend p50 (2,000 items)': { value: `${f(recommendation.p50Ms, 3)} ms`, note: `p99 ${f(recommendation.p99Ms, 3)} ms, ${recommendation.candidates} candidates` },
  'KT update': { value: `${f(ktUpdate.nsPerUpdate, 0)} ns`, note: `predict+update ${f(ktUpdate.nsPerPredictAndUpdate, 0)} ns` },
  'KT fit (train split)': { value: `${f(ktUpdate.fitMs, 0)} ms`, note: `l2 ${ktUpdate.l2}, params ${Math.round(ktUpdate.paramsJsonBytes / 1024)} KiB` },
  'eval kt (full data)': { value: `${f(evalKt.wallMs, 0)} ms`, note: `cpu ${f(evalKt.cpuMs, 0)} ms, AUC ${f(evalKt.auc, 4)}, RMSE ${f(evalKt.rmse, 4)}, n ${evalKt.n}` },
});
