// Metering cost per premium call: reserve (budget check-and-hold + pending ledger row)
// and settle (ledger row, daily rollup, budget counters), against three budgets as in
// production (user month, feature day, global day). Sequential p50 on SQLite (the
// embedded default) and Postgres, throughput at 1,000 calls/s offered on SQLite, and
// bursts with and without group commit on a SQLite file.
// Run: npx tsx bench/metering.bench.ts  → bench/results/metering.json
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../src/platform/clock.js';
import { parsePolicy } from '../src/platform/policy.js';
import { MeteringService, type MeteredCall } from '../src/features/usage/metering.service.js';
import { PriceBook } from '../src/features/usage/price-book.js';
import { openStore } from '../src/platform/db/database.js';
import { migrateUp } from '../src/platform/db/migrator.js';
import { insertUsers, openTestStore } from '../test/helpers/databases.js';

// A reservation is written only for a user who exists (ADR 0016).
const BENCH_USERS = Array.from({ length: 100 }, (_, u) => `bench-${u}`);

const prices = new PriceBook(parsePolicy(undefined).prices);
const call = (i: number): MeteredCall => ({ model: 'claude-haiku-4-5', messageId: `msg_bench_${i}_${Math.random()}`, latencyMs: 5, outcome: 'ok', usage: { inputTokens: 1200, outputTokens: 130, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, cacheReadTokens: 800 } });
const lines = (u: number) => [
  { key: `user:bench-${u}:2026-11`, capMicros: 1e12 },
  { key: 'feature:grading:2026-11-27', capMicros: 1e12 },
  { key: 'global:2026-11-27', capMicros: 1e12 },
];

// One premium call's metering: the reservation, then its settlement. False when the
// budget refused (never, with these caps).
async function reserveAndSettle(m: MeteringService, i: number): Promise<boolean> {
  const r = await m.reserve({ userId: `bench-${i % 100}`, feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 20_000, lines: lines(i % 100) });
  if (r.ok) await m.settle(r.reservation, [call(i)], 'llm');
  return r.ok;
}

function pct(xs: number[], p: number) {
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(3);
}

async function sequential(kind: 'sqlite' | 'postgres', n: number) {
  const ts = await openTestStore(kind);
  await insertUsers(ts.store.db, BENCH_USERS);
  const m = new MeteringService(ts.store, prices, systemClock);
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    if (!(await reserveAndSettle(m, i))) throw new Error('refused');
    if (i >= 200) samples.push(performance.now() - t0);
  }
  await ts.cleanup();
  return { store: kind, n: samples.length, p50Ms: pct(samples, 50), p95Ms: pct(samples, 95), p99Ms: pct(samples, 99) };
}

// 1,000 calls/s offered (one every ms, each independent), for 3 s.
async function offered(kind: 'sqlite' | 'postgres', rate: number, seconds: number) {
  const ts = await openTestStore(kind);
  await insertUsers(ts.store.db, BENCH_USERS);
  const m = new MeteringService(ts.store, prices, systemClock);
  const samples: number[] = [];
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < rate * seconds; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      (async () => {
        const t0 = performance.now();
        await reserveAndSettle(m, i);
        samples.push(performance.now() - t0);
      })(),
    );
  }
  await Promise.all(pending);
  const elapsed = (performance.now() - start) / 1000;
  await ts.cleanup();
  return { store: kind, offeredPerSec: rate, achievedPerSec: Math.round(samples.length / elapsed), p50Ms: pct(samples, 50), p99Ms: pct(samples, 99) };
}

// Group commit (docs/adr/0009): bursts of 16 calls arriving together, each reserve then
// settle, on a file-backed SQLite store (WAL, as in production), with grouping forced on
// and off. All of it is CPU on this thread, so wall time per call is its cost.
async function bursts(group: boolean, count: number, size = 16) {
  const dir = mkdtempSync(join(os.tmpdir(), 'tg-bench-group-'));
  const store = openStore(`sqlite:${join(dir, 'm.db')}`, { groupCommit: () => group });
  await migrateUp(store.db);
  await insertUsers(store.db, BENCH_USERS);
  const m = new MeteringService(store, prices, systemClock);
  const perCall: number[] = [];
  for (let b = 0; b < count; b++) {
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: size }, async (_, j) => {
        const i = b * size + j;
        if (!(await reserveAndSettle(m, i))) throw new Error('refused');
      }),
    );
    if (b >= 20) perCall.push((performance.now() - t0) / size);
  }
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return { store: 'sqlite file', groupCommit: group, burst: size, bursts: perCall.length, perCallP50Ms: pct(perCall, 50), perCallP95Ms: pct(perCall, 95) };
}

const results = {
  generatedAt: new Date().toISOString(),
  node: process.version,
  loadavg: os.loadavg().map((x) => +x.toFixed(2)),
  sequential: [await sequential('sqlite', 3000), await sequential('postgres', 1500)],
  at1000PerSec: [await offered('sqlite', 1000, 3)],
  burstsOf16: [await bursts(false, 300), await bursts(true, 300)],
};
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'metering.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
console.table([...results.sequential, ...results.at1000PerSec]);
console.table(results.burstsOf16);
