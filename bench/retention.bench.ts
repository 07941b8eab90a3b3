// One batch of the retention job (src/features/retention/retention.service.ts) on tables of
// 100,000 old rows: how long a delete of RETENTION_BATCH evaluations or recommendations
// and the fold of one learner's events (100 events: 1,000 learners × 100) take, i.e. how
// long a request waits behind one batch. On SQLite a batch runs on the serving connection
// and holds the write lock; on Postgres it is one short transaction. Through the
// repositories the job uses, on a SQLite file as the service opens it, and on Postgres
// when TEST_PG_URL or the local test server answers. Also what the evaluations' time index
// costs each insert (sqliteEvaluationInsert, µs per row, with and without it).
// Run: npx tsx bench/retention.bench.ts  → bench/results/retention.json
import { sql } from 'kysely';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoCatalog } from '../src/features/learning-path/catalog-provider.js';
import { GradingRepository, type EvaluationRow } from '../src/features/grading/grading.repository.js';
import { foldOldEvents, LearnerModel } from '../src/features/learning-path/learner-model.js';
import { LearningRepository } from '../src/features/learning-path/learning.repository.js';
import { RETENTION_BATCH } from '../src/features/retention/retention.service.js';
import { openStore, type Store } from '../src/platform/db/database.js';
import { migrateUp } from '../src/platform/db/migrator.js';
import { createPgDatabase } from '../test/helpers/databases.js';

const ROWS = 100_000;
// BATCH=250 npx tsx bench/retention.bench.ts: another batch size than the job's.
const BATCH = Number(process.env.BATCH ?? RETENTION_BATCH);
const LEARNERS = 1_000;
const NOW = Date.parse('2026-11-27T12:00:00Z');
const OLD = NOW - 400 * 86_400_000;
const catalog = demoCatalog();
const items = catalog.items.map((i) => i.id);
const answer = 'The sun heats the water in the puddle, so it evaporates and becomes water vapour in the air. '.repeat(2);

async function seed(store: Store): Promise<void> {
  const db = store.db;
  for (let start = 0; start < ROWS; start += 500) {
    const n = Math.min(500, ROWS - start);
    await db.transaction().execute(async (trx) => {
      const ev: EvaluationRow[] = [];
      for (let i = start; i < start + n; i++) {
        ev.push({ id: `ev_${String(i).padStart(8, '0')}`, user_id: `u${i % LEARNERS}`, rubric_id: 'demo-evaporation', rubric_version: 1, rubric_json: null, question: 'Q', answer, result_json: '{"score":3,"feedback":"' + 'f'.repeat(200) + '"}', source: 'rules', confidence: 0.9, review_status: 'none', review_reasons: null, override_json: null, reviewed_by: null, reviewed_at: null, created_at: OLD + i });
      }
      await trx.insertInto('evaluations').values(ev).execute();
      await trx.insertInto('progress_events').values(Array.from({ length: n }, (_, k) => ({ user_id: `u${(start + k) % LEARNERS}`, event_id: `e${start + k}`, item_id: items[(start + k) % items.length]!, correct: (start + k) % 3 ? 1 : 0, at: OLD + start + k, received_at: OLD + start + k }))).execute();
      await trx.insertInto('recommendations').values(Array.from({ length: n }, (_, k) => ({ id: `rec_${String(start + k).padStart(8, '0')}`, user_id: `u${(start + k) % LEARNERS}`, experiment: null, variant: null, source: 'rules', item_ids: JSON.stringify(items.slice(0, 5)), at: OLD + start + k }))).execute();
    });
  }
}

const stats = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { n: s.length, medianMs: +q(0.5).toFixed(2), p95Ms: +q(0.95).toFixed(2), maxMs: +s.at(-1)!.toFixed(2) };
};

async function time(fn: () => Promise<number>, until: (n: number) => boolean): Promise<number[]> {
  const out: number[] = [];
  for (;;) {
    const t0 = process.hrtime.bigint();
    const n = await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (until(n)) return out;
  }
}

async function measure(store: Store) {
  await migrateUp(store.db);
  await seed(store);
  // As autovacuum would have by the time a table is this large: planned without statistics,
  // the evaluations delete took ten times as long (41 ms against 4 ms per batch).
  if (store.dialect === 'postgres') await sql`analyze`.execute(store.db);
  const grading = new GradingRepository(store);
  const learning = new LearningRepository(store.db);
  const learners = new LearnerModel(learning, { now: () => NOW });
  const cut = NOW - 180 * 86_400_000;
  const evaluations = stats(await time(() => grading.deleteEvaluationsBefore('ordinary', cut, BATCH), (n) => n < BATCH));
  const recommendations = stats(await time(() => learning.deleteRecommendationsBefore(cut, BATCH), (n) => n < BATCH));
  const users = await learning.learnersWithEventsBefore(cut, ROWS);
  const folds: number[] = [];
  let folded = 0;
  for (const u of users) {
    const t0 = process.hrtime.bigint();
    folded += await foldOldEvents({ repo: learning, learners, now: () => NOW }, u, cut, catalog, BATCH);
    folds.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { batch: BATCH, evaluationsDeletePerBatch: evaluations, recommendationsDeletePerBatch: recommendations, progressFoldPerLearner: { ...stats(folds), eventsPerLearner: folded / users.length } };
}

// What the time index the job deletes evaluations by costs every grade: one evaluation row
// is inserted per request, in its own commit here (the service shares commits: less). Rounds
// interleave a store with the index and one without it, on fresh SQLite files.
async function insertCost(dir: string, rounds = 4, rows = 5_000): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = { withIndexUs: [], withoutIndexUs: [] };
  for (let r = 0; r < rounds; r++) {
    for (const withIndex of [true, false]) {
      const store = openStore(`sqlite:${join(dir, `ins-${r}-${withIndex}.db`)}`);
      await migrateUp(store.db);
      if (!withIndex) await store.db.schema.dropIndex('evaluations_created_idx').execute();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < rows; i++) {
        await store.db.insertInto('evaluations').values({ id: `ev_${String(i).padStart(8, '0')}`, user_id: `u${i % LEARNERS}`, rubric_id: 'demo-evaporation', rubric_version: 1, rubric_json: null, question: 'Q', answer, result_json: '{"score":3}', source: 'llm', confidence: 0.9, review_status: 'none', review_reasons: null, override_json: null, reviewed_by: null, reviewed_at: null, created_at: NOW + i }).execute();
      }
      out[withIndex ? 'withIndexUs' : 'withoutIndexUs']!.push(+(Number(process.hrtime.bigint() - t0) / 1e3 / rows).toFixed(1));
      await store.close();
    }
  }
  return out;
}

const dir = mkdtempSync(join(os.tmpdir(), 'tg-retention-'));
const result: Record<string, unknown> = { rows: ROWS, learners: LEARNERS, at: new Date().toISOString(), cpus: os.cpus().length };
try {
  const sqlite = openStore(`sqlite:${join(dir, 'r.db')}`);
  result.sqlite = await measure(sqlite);
  await sqlite.close();
  result.sqliteEvaluationInsert = await insertCost(dir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (process.env.SQLITE_ONLY) result.postgres = { skipped: 'SQLITE_ONLY' };
else try {
  const pg = await createPgDatabase();
  const store = openStore(pg.url, { poolSize: 2 });
  try {
    result.postgres = await measure(store);
  } finally {
    await store.close();
    await pg.drop();
  }
} catch (err) {
  result.postgres = { skipped: (err as Error).message };
}
console.log(JSON.stringify(result, null, 2));
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'retention.json');
mkdirSync(dirname(out), { recursive: true });
if (!process.env.BATCH && !process.env.SQLITE_ONLY) writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
