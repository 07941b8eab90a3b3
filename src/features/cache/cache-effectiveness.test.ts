import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheKey } from './cache-key.js';
import { createCacheManager, type CacheManager } from './cache-manager.js';
import { registerCacheMetrics, type CacheMetrics } from './cache-metrics.js';
import { connectRedis, deleteByPrefix, testPrefix, whenSubscribed } from './cache-test-support.js';

// A replayed workload: 1,000 grading requests over 300 distinct answers with a Zipf(1) skew, every
// answer appearing at least once. A correct cache computes each distinct input exactly once, so the
// hit ratio must be exactly (requests - distinct) / requests and the savings exactly the cost of the repeats.
const REQUESTS = 1_000;
const DISTINCT = 300;

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function workload(seed: number): number[] {
  const rand = mulberry32(seed);
  const weights = Array.from({ length: DISTINCT }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((s, w) => s + w, 0);
  const draw = (): number => {
    let x = rand() * total;
    for (let i = 0; i < DISTINCT; i++) if ((x -= weights[i]!) <= 0) return i;
    return DISTINCT - 1;
  };
  const seq = [...Array.from({ length: DISTINCT }, (_, i) => i), ...Array.from({ length: REQUESTS - DISTINCT }, draw)];
  for (let i = seq.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [seq[i], seq[j]] = [seq[j]!, seq[i]!];
  }
  return seq;
}

const costMicros = (i: number): number => 800 + ((i * 37) % 500);
const tokens = (i: number): number => 200 + ((i * 13) % 150);

async function replay(instances: CacheManager[], seq: number[]) {
  let computes = 0;
  let hits = 0;
  for (const [n, i] of seq.entries()) {
    const key = cacheKey({ feature: 'grading', scope: 'shared', template: { id: 'grade', version: 1 }, model: 'm', inputs: { answer: `answer ${i}` }, tags: ['rubric:eff'] });
    const r = await instances[n % instances.length]!.getOrCompute(key, { ttlMs: 600_000, tags: ['rubric:eff'], feature: 'grading' }, async () => {
      computes++;
      return { value: { score: i % 5 }, cacheable: true, meta: { costMicros: costMicros(i), tokens: tokens(i) } };
    });
    expect(r.value.score).toBe(i % 5);
    if (r.hit) hits++;
  }
  return { computes, hits };
}

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const values = (await registry.getMetricsAsJSON()).find((m) => m.name === name)?.values ?? [];
  return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((s, v) => s + Number(v.value), 0);
}

const seq = workload(42);
const seen = new Set<number>();
let expectedSavedMicros = 0;
let expectedSavedTokens = 0;
for (const i of seq) {
  if (seen.has(i)) {
    expectedSavedMicros += costMicros(i);
    expectedSavedTokens += tokens(i);
  }
  seen.add(i);
}

const prefix = testPrefix('cache-effectiveness');
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup) await c();
});

describe('cache effectiveness on a replayed Zipf workload', () => {
  it('the workload has the intended shape', () => {
    expect(seq).toHaveLength(REQUESTS);
    expect(seen.size).toBe(DISTINCT);
  });

  const setups: [string, (metrics: CacheMetrics) => Promise<CacheManager[]>][] = [
    ['memory only', async (metrics) => [createCacheManager({ metrics })]],
    [
      'two instances sharing Redis, requests alternating between them',
      async (metrics) => {
        const admin = await connectRedis();
        const instances: CacheManager[] = [];
        const conns: Redis[] = [];
        for (let n = 0; n < 2; n++) {
          const redis = await connectRedis();
          const subscriber = await connectRedis();
          conns.push(redis, subscriber);
          instances.push(createCacheManager({ redis, subscriber, prefix, metrics, redisTimeoutMs: 2_000 })); // no breaker trips on a loaded box
        }
        cleanup.push(async () => {
          for (const i of instances) await i.close();
          for (const c of conns) c.disconnect();
          await deleteByPrefix(admin, prefix);
          admin.disconnect();
        });
        for (const i of instances) await whenSubscribed(i);
        return instances;
      },
    ],
  ];

  for (const [name, setup] of setups) {
    it(`hit ratio is exactly (requests - distinct) / requests and savings add up: ${name}`, async () => {
      const registry = new Registry();
      const instances = await setup(registerCacheMetrics(registry));
      const { computes, hits } = await replay(instances, seq);
      const savedUsd = await counter(registry, 'tutorgate_cache_saved_usd_total', { feature: 'grading' });
      console.log(
        `[cache effectiveness] ${name}: ${hits}/${REQUESTS} hits (ratio ${(hits / REQUESTS).toFixed(3)}), ` +
          `${computes} upstream calls, saved $${savedUsd.toFixed(6)}`,
      );
      expect(computes).toBe(DISTINCT);
      expect(hits / REQUESTS).toBe((REQUESTS - DISTINCT) / REQUESTS);
      expect(instances.reduce((s, i) => s + i.stats().hits, 0)).toBe(REQUESTS - DISTINCT);
      expect(await counter(registry, 'tutorgate_cache_requests_total', { feature: 'grading', result: 'hit' })).toBe(REQUESTS - DISTINCT);
      expect(await counter(registry, 'tutorgate_cache_requests_total', { feature: 'grading', result: 'miss' })).toBe(DISTINCT);
      expect(await counter(registry, 'tutorgate_cache_saved_tokens_total', { feature: 'grading' })).toBe(expectedSavedTokens);
      expect(savedUsd).toBeCloseTo(expectedSavedMicros / 1e6, 6);
    });
  }
});
