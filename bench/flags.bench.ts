// µs per flag evaluation: the in-memory snapshot (the per-request path, target
// <= 5 µs) and the same through an OpenFeature client (async + hooks).
// Run: npx tsx bench/flags.bench.ts → bench/results/flags.json
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlagAnalytics } from '../src/features/flags/flag-analytics.js';
import { FlagSnapshot } from '../src/features/flags/flag-snapshot.js';
import { createFlagClient } from '../src/features/flags/openfeature-provider.js';
import type { FlagContext, FlagDefinition } from '../src/features/flags/flag.types.js';

const defs: FlagDefinition[] = [
  { key: 'grading', enabled: true, rollout: 50 },
  {
    key: 'learning_path_experiment',
    enabled: true,
    rollout: 80,
    rules: [
      { attribute: 'userId', op: 'in', values: Array.from({ length: 200 }, (_, i) => `qa-${i}`), serve: { variant: 'graph' } },
      { attribute: 'role', op: 'in', values: ['admin'], serve: { enabled: false } },
      { attribute: 'country', op: 'notIn', values: ['DE', 'FR'], serve: { enabled: true } },
    ],
    variants: [
      { key: 'control', weight: 50 },
      { key: 'graph', weight: 30 },
      { key: 'llm', weight: 20 },
    ],
    ramp: [
      { at: '2025-01-01T00:00:00Z', rollout: 10 },
      { at: '2025-02-01T00:00:00Z', rollout: 50 },
      { at: '2025-03-01T00:00:00Z', rollout: 80 },
    ],
  },
];

const USERS = 10_000;
const ctxs: FlagContext[] = Array.from({ length: USERS }, (_, i) => ({
  userId: `user-${i}`,
  tier: i % 3 === 0 ? 'free' : 'premium',
  roles: i % 50 === 0 ? ['teacher'] : ['student'],
  attributes: { country: i % 4 === 0 ? 'DE' : 'US' },
}));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(name: string, iterations: number, rounds: number, fn: (i: number) => unknown): Promise<{ name: string; medianUs: number; bestUs: number; iterations: number; rounds: number }> {
  for (let i = 0; i < Math.min(iterations, 20_000); i++) await fn(i); // warm-up (JIT)
  const perOp: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      const out = fn(i);
      if (out instanceof Promise) await out;
    }
    perOp.push(Number(process.hrtime.bigint() - t0) / 1000 / iterations);
  }
  const result = { name, medianUs: +median(perOp).toFixed(3), bestUs: +Math.min(...perOp).toFixed(3), iterations, rounds };
  console.log(`${name.padEnd(44)} median ${result.medianUs.toFixed(3)} µs  best ${result.bestUs.toFixed(3)} µs`);
  return result;
}

const snapshot = new FlagSnapshot({ overrides: defs });
const analytics = new FlagAnalytics();
const plain = await createFlagClient(snapshot);
const hooked = await createFlagClient(snapshot, { analytics });
const evalCtxs = ctxs.map((c) => ({ targetingKey: c.userId, tier: c.tier, roles: c.roles, ...c.attributes }));

const results = [
  await measure('snapshot.evaluate grading (50% rollout)', 200_000, 7, (i) => snapshot.evaluate('grading', ctxs[i % USERS]!)),
  await measure('snapshot.evaluate experiment (rules+variants+ramp)', 200_000, 7, (i) =>
    snapshot.evaluate('learning_path_experiment', ctxs[i % USERS]!),
  ),
  // Our provider alone (context mapping + snapshot), to separate it from SDK overhead.
  await measure('provider.resolveBooleanEvaluation (no SDK)', 200_000, 7, (i) =>
    plain.provider.resolveBooleanEvaluation('grading', false, evalCtxs[i % USERS]!),
  ),
  await measure('openfeature getBooleanValue grading', 50_000, 7, (i) => plain.client.getBooleanValue('grading', false, evalCtxs[i % USERS]!)),
  await measure('openfeature getStringDetails experiment', 50_000, 7, (i) =>
    plain.client.getStringDetails('learning_path_experiment', 'control', evalCtxs[i % USERS]!),
  ),
  await measure('openfeature getBooleanValue + analytics hook', 50_000, 7, (i) =>
    hooked.client.getBooleanValue('grading', false, evalCtxs[i % USERS]!),
  ),
];
await plain.close();
await hooked.close();

const out = {
  benchmark: 'flags',
  at: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  loadavg1m: +loadavg()[0]!.toFixed(2), // the box is shared: read figures against this
  targetUsPerSnapshotEvaluation: 5,
  results,
};
const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'flags.json');
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
console.log(`wrote ${file}`);
