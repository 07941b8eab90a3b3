// Cache hit latency: memory tier, Redis tier, and key derivation. `npx tsx bench/cache.bench.ts`
// Writes bench/results/cache.json. Needs Redis at 127.0.0.1:6379 for the Redis figures.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { cacheKey, type CacheKeyInput } from '../src/features/cache/cache-key.js';
import { createCacheManager } from '../src/features/cache/cache-manager.js';

interface Summary {
  iterations: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

async function measure(iterations: number, fn: () => unknown): Promise<Summary> {
  for (let i = 0; i < Math.min(2_000, iterations); i++) await fn(); // warm-up
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await fn();
    samples[i] = (performance.now() - t0) * 1_000;
  }
  samples.sort();
  const mean = samples.reduce((s, x) => s + x, 0) / iterations;
  const at = (q: number): number => samples[Math.min(iterations - 1, Math.floor(q * iterations))]!;
  const round = (x: number): number => Math.round(x * 100) / 100;
  return { iterations, meanUs: round(mean), p50Us: round(at(0.5)), p99Us: round(at(0.99)), maxUs: round(samples[iterations - 1]!) };
}

// A realistic grading result: score, per-criterion feedback, ~1 KB serialised.
const value = {
  score: 4,
  maxScore: 5,
  criteria: Array.from({ length: 5 }, (_, i) => ({ id: `c${i}`, met: i % 2 === 0, feedback: 'Explains the mechanism but omits the wavelength dependence. '.repeat(2) })),
};
const keyInput: CacheKeyInput = {
  feature: 'grading',
  scope: 'shared',
  template: { id: 'grade-short-answer', version: 3 },
  model: 'claude-sonnet-4-5',
  inputs: { question: 'Why is the sky blue?', answer: 'Because of Rayleigh scattering: shorter wavelengths scatter more. '.repeat(4), rubric: { id: 'r1', version: 2 } },
  tags: ['rubric:r1', 'feature:grading'],
};
const key = cacheKey(keyInput);
const opts = { ttlMs: 600_000, tags: ['rubric:r1'], feature: 'grading' };
const compute = async () => ({ value, cacheable: true, meta: { costMicros: 1_200, tokens: 450 } });
const payloadBytes = Buffer.byteLength(JSON.stringify(value));

const results: Record<string, unknown> = {
  generatedAt: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  payloadBytes,
};

results.cacheKey = await measure(20_000, () => cacheKey(keyInput));

const memory = createCacheManager();
await memory.set(key, { value, storedAt: Date.now() }, 600_000, ['rubric:r1']);
results.memoryHitGet = await measure(50_000, () => memory.get(key));
results.memoryHitGetOrCompute = await measure(50_000, () => memory.getOrCompute(key, opts, compute));
await memory.close();

const redis = new Redis({ host: '127.0.0.1', port: 6379, enableOfflineQueue: false, commandTimeout: 500, lazyConnect: true });
const subscriber = redis.duplicate();
try {
  await Promise.all([redis.connect(), subscriber.connect()]);
  const prefix = `bench:cache:${randomUUID()}:`;
  // maxBytes 1: the memory tier can hold nothing, so every lookup is a Redis round trip.
  const redisOnly = createCacheManager({ redis, subscriber, prefix, maxBytes: 1 });
  await redisOnly.set(key, { value, storedAt: Date.now() }, 600_000, ['rubric:r1']);
  results.redisHitGet = await measure(5_000, () => redisOnly.get(key));
  results.redisHitGetOrCompute = await measure(5_000, () => redisOnly.getOrCompute(key, opts, compute));
  // A miss with Redis: lock, re-check, compute (instant here), write entry+tags, release, announce.
  let n = 0;
  results.redisMissOverhead = await measure(2_000, () => redisOnly.getOrCompute(`${key}:${n++}`, opts, compute));
  await redisOnly.invalidateTags(['rubric:r1']);
  await redisOnly.close();
} catch (err) {
  results.redisError = String(err);
} finally {
  redis.disconnect();
  subscriber.disconnect();
}

mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/cache.json', import.meta.url), JSON.stringify(results, null, 2) + '\n');
console.log(JSON.stringify(results, null, 2));
