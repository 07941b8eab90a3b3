// Metering cost per premium call: reserve (budget check-and-hold + pending ledger row)
// and settle (ledger row, daily rollup, budget counters), against three budgets as in
// production (user month, feature day, global day). Sequential p50 on SQLite (the
// embedded default) and Postgres, and throughput at 1,000 calls/s offered on SQLite.
// Run: npx tsx bench/metering.bench.ts  → bench/results/metering.json
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../src/platform/clock.js';
import { parsePolicy } from '../src/platform/policy.js';
import { MeteringService, type MeteredCall } from '../src/features/usage/metering.service.js';
import { PriceBook } from '../src/features/usage/price-book.js';
import { openTestStore } from '../test/helpers/databases.js';

const prices = new PriceBook(parsePolicy(undefined).prices);
const call = (i: number): MeteredCall => ({ model: 'claude-haiku-4-5', messageId: `msg_bench_${i}_${Math.random()}`, latencyMs: 5, outcome: 'ok', usage: { inputTokens: 1200, outputTokens: 130, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, cacheReadTokens: 800 } });
const lines = (u: number) => [
  { key: `user:bench-${u}:2026-11`, capMicros: 1e12 },
  { key: 'feature:grading:2026-11-27', capMicros: 1e12 },
  { key: 'global:2026-11-27', capMicros: 1e12 },
];

function pct(xs: number[], p: number) {
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(3);
}

async function sequential(kind: 'sqlite' | 'postgres', n: number) {
  const ts = await openTestStore(kind);
  const m = new MeteringService(ts.store, prices, systemClock);
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await m.reserve({ userId: `bench-${i % 100}`, feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 20_000, lines: lines(i % 100) });
    if (!r.ok) throw new Error('refused');
    await m.settle(r.reservation, [call(i)], 'llm');
    if (i >= 200) samples.push(performance.now() - t0);
  }
  await ts.cleanup();
  return { store: kind, n: samples.length, p50Ms: pct(samples, 50), p95Ms: pct(samples, 95), p99Ms: pct(samples, 99) };
}

// 1,000 calls/s offered (one every ms, each independent), for 3 s.
async function offered(kind: 'sqlite' | 'postgres', rate: number, seconds: number) {
  const ts = await openTestStore(kind);
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
        const r = await m.reserve({ userId: `bench-${i % 100}`, feature: 'grading', model: 'claude-haiku-4-5', worstCaseMicros: 20_000, lines: lines(i % 100) });
        if (r.ok) await m.settle(r.reservation, [call(i)], 'llm');
        samples.push(performance.now() - t0);
      })(),
    );
  }
  await Promise.all(pending);
  const elapsed = (performance.now() - start) / 1000;
  await ts.cleanup();
  return { store: kind, offeredPerSec: rate, achievedPerSec: Math.round(samples.length / elapsed), p50Ms: pct(samples, 50), p99Ms: pct(samples, 99) };
}

const results = {
  generatedAt: new Date().toISOString(),
  node: process.version,
  loadavg: os.loadavg().map((x) => +x.toFixed(2)),
  sequential: [await sequential('sqlite', 3000), await sequential('postgres', 1500)],
  at1000PerSec: [await offered('sqlite', 1000, 3)],
};
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'metering.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
console.table([...results.sequential, ...results.at1000PerSec]);
