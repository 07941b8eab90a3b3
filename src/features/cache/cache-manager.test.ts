import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { cacheKey } from './cache-key.js';
import { createCacheManager } from './cache-manager.js';
import { registerCacheMetrics } from './cache-metrics.js';

const key = (answer: string): string =>
  cacheKey({
    feature: 'grading',
    scope: 'shared',
    template: { id: 'grade', version: 1 },
    model: 'm',
    inputs: { answer },
    tags: ['rubric:r1'],
  });
const opts = { ttlMs: 60_000, tags: ['rubric:r1'], feature: 'grading' };

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function counterValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const v = metric?.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return Number(v?.value ?? 0);
}

describe('CacheManager (memory only)', () => {
  it('50 concurrent identical misses make one compute; everyone gets its value', async () => {
    const cache = createCacheManager();
    const gate = deferred();
    let computes = 0;
    const compute = async () => {
      computes++;
      await gate.promise;
      return { value: { score: 4 }, cacheable: true, meta: { costMicros: 1200, tokens: 300 } };
    };
    const all = Array.from({ length: 50 }, () => cache.getOrCompute(key('a'), opts, compute));
    gate.resolve();
    const results = await Promise.all(all);
    expect(computes).toBe(1);
    expect(results.every((r) => r.value.score === 4)).toBe(true);
    expect(results.filter((r) => !r.hit)).toHaveLength(1);
    expect(cache.stats()).toMatchObject({ hits: 49, misses: 1, entries: 1 });
    const again = await cache.getOrCompute(key('a'), opts, compute);
    expect(again).toEqual({ value: { score: 4 }, hit: true, meta: { costMicros: 1200, tokens: 300 } });
    expect(computes).toBe(1);
    await cache.close();
  });

  it('hands out copies: a caller mutating its result cannot change what the next caller gets', async () => {
    const cache = createCacheManager();
    const first = await cache.getOrCompute(key('a'), opts, async () => ({ value: { list: [1] }, cacheable: true }));
    first.value.list.push(2);
    const second = await cache.get<{ list: number[] }>(key('a'));
    expect(second?.value.list).toEqual([1]);
  });

  it('a caller that arrives after a purge does not join a compute that began before it', async () => {
    const cache = createCacheManager();
    const gate = deferred();
    const started = deferred();
    const old = cache.getOrCompute(key('purged'), opts, async () => {
      started.resolve();
      await gate.promise;
      return { value: 'old', cacheable: true };
    });
    await started.promise; // the first compute is under way
    await cache.invalidateTags(['rubric:r1']);
    const fresh = await cache.getOrCompute(key('purged'), opts, async () => ({ value: 'new', cacheable: true }));
    expect(fresh).toMatchObject({ value: 'new', hit: false });
    gate.resolve();
    expect((await old).value).toBe('old'); // its own caller still gets what it waited for
    expect((await cache.getOrCompute(key('purged'), opts, async () => ({ value: 'third', cacheable: true }))).value).toBe('new');
  });

  it('does not store cacheable:false results (e.g. a fallback answer)', async () => {
    const cache = createCacheManager();
    let computes = 0;
    const compute = async () => ({ value: computes++, cacheable: false });
    expect((await cache.getOrCompute(key('a'), opts, compute)).hit).toBe(false);
    expect((await cache.getOrCompute(key('a'), opts, compute)).hit).toBe(false);
    expect(computes).toBe(2);
    expect(cache.stats().entries).toBe(0);
  });

  it('a failing compute rejects every waiter, caches nothing, and the next call computes again', async () => {
    const cache = createCacheManager();
    const gate = deferred();
    let computes = 0;
    const failing = async (): Promise<{ value: number; cacheable: boolean }> => {
      computes++;
      await gate.promise;
      throw new Error('upstream 529');
    };
    const all = Array.from({ length: 5 }, () => cache.getOrCompute(key('a'), opts, failing));
    gate.resolve();
    for (const p of all) await expect(p).rejects.toThrow('upstream 529');
    expect(computes).toBe(1);
    const ok = await cache.getOrCompute(key('a'), opts, async () => ({ value: 7, cacheable: true }));
    expect(ok).toEqual({ value: 7, hit: false });
  });

  it('expires entries by the injected clock', async () => {
    let t = 1_000_000;
    const cache = createCacheManager({ now: () => t });
    await cache.set(key('a'), { value: 'x', storedAt: t }, 1_000, ['rubric:r1']);
    t += 999;
    expect((await cache.get(key('a')))?.value).toBe('x');
    t += 2;
    expect(await cache.get(key('a'))).toBeUndefined();
  });

  it('an entry older than the TTL asked for now (the policy was lowered) is a miss, and is replaced', async () => {
    let t = 1_000_000;
    const cache = createCacheManager({ now: () => t });
    const month = { ...opts, ttlMs: 30 * 24 * 3_600_000 };
    const tenMinutes = { ...opts, ttlMs: 10 * 60_000 };
    await cache.getOrCompute(key('a'), month, async () => ({ value: 'under the 30-day policy', cacheable: true }));
    t += 11 * 60_000;
    expect(await cache.getOrCompute(key('a'), month, async () => ({ value: 'unused', cacheable: true }))).toEqual({ value: 'under the 30-day policy', hit: true });
    expect(await cache.getOrCompute(key('a'), tenMinutes, async () => ({ value: 'recomputed', cacheable: true }))).toEqual({ value: 'recomputed', hit: false });
    t += 9 * 60_000;
    expect(await cache.getOrCompute(key('a'), tenMinutes, async () => ({ value: 'unused', cacheable: true }))).toEqual({ value: 'recomputed', hit: true });
  });

  it('a TTL lowered to zero (caching off) serves nothing already stored, and stores nothing', async () => {
    let t = 1_000_000;
    const cache = createCacheManager({ now: () => t });
    const off = { ...opts, ttlMs: 0 };
    await cache.getOrCompute(key('a'), opts, async () => ({ value: 'under the 1-minute policy', cacheable: true }));
    t += 1;
    expect(await cache.getOrCompute(key('a'), off, async () => ({ value: 'recomputed', cacheable: true }))).toEqual({ value: 'recomputed', hit: false });
    expect(await cache.getOrCompute(key('a'), off, async () => ({ value: 'again', cacheable: true }))).toEqual({ value: 'again', hit: false });
  });

  it('evicts least-recently-used entries to stay within the byte budget, and counts it', async () => {
    const registry = new Registry();
    const metrics = registerCacheMetrics(registry);
    const cache = createCacheManager({ maxBytes: 10_000, metrics });
    const big = (c: string) => ({ value: c.repeat(3_000), storedAt: 0 });
    await cache.set(key('a'), big('a'), 60_000, []);
    await cache.set(key('b'), big('b'), 60_000, []);
    await cache.set(key('c'), big('c'), 60_000, []);
    expect(cache.stats()).toMatchObject({ entries: 3, evictions: 0 });
    await cache.get(key('a')); // a is now more recent than b
    await cache.set(key('d'), big('d'), 60_000, []);
    expect(cache.stats().evictions).toBe(1);
    expect(cache.stats().bytes).toBeLessThanOrEqual(10_000);
    expect(await cache.get(key('b'))).toBeUndefined();
    expect((await cache.get<string>(key('a')))?.value).toBe('a'.repeat(3_000));
    expect(await counterValue(registry, 'tutorgate_cache_evictions_total', { feature: 'grading' })).toBe(1);
  });

  it('an entry bigger than the whole budget is simply not kept', async () => {
    const cache = createCacheManager({ maxBytes: 1_000 });
    await cache.set(key('a'), { value: 'x'.repeat(5_000), storedAt: 0 }, 60_000, []);
    expect(await cache.get(key('a'))).toBeUndefined();
    expect(cache.stats().entries).toBe(0);
  });

  it('invalidateTags drops only entries carrying those tags', async () => {
    const cache = createCacheManager();
    await cache.set(key('a'), { value: 1, storedAt: 0 }, 60_000, ['rubric:r1', 'feature:grading']);
    await cache.set(key('b'), { value: 2, storedAt: 0 }, 60_000, ['rubric:r2', 'feature:grading']);
    expect(await cache.invalidateTags(['rubric:r1', 'rubric:nope'])).toBe(1);
    expect(await cache.get(key('a'))).toBeUndefined();
    expect((await cache.get(key('b')))?.value).toBe(2);
  });

  it('records hit/miss and the saved cost of hits in Prometheus', async () => {
    const registry = new Registry();
    const metrics = registerCacheMetrics(registry);
    expect(registerCacheMetrics(registry)).toBeDefined(); // registering twice is harmless
    const cache = createCacheManager({ metrics });
    const compute = async () => ({ value: 1, cacheable: true, meta: { costMicros: 2_500, tokens: 410 } });
    for (let i = 0; i < 3; i++) await cache.getOrCompute(key('a'), opts, compute);
    expect(await counterValue(registry, 'tutorgate_cache_requests_total', { feature: 'grading', result: 'miss' })).toBe(1);
    expect(await counterValue(registry, 'tutorgate_cache_requests_total', { feature: 'grading', result: 'hit' })).toBe(2);
    expect(await counterValue(registry, 'tutorgate_cache_saved_tokens_total', { feature: 'grading' })).toBe(820);
    expect(await counterValue(registry, 'tutorgate_cache_saved_usd_total', { feature: 'grading' })).toBeCloseTo(0.005, 10);
  });

  it('a value that cannot be serialised is returned but not cached', async () => {
    const errors: string[] = [];
    const cache = createCacheManager({ onError: (_e, op) => errors.push(op) });
    const r = await cache.getOrCompute(key('a'), opts, async () => ({ value: { n: 1n }, cacheable: true }));
    expect(r.value.n).toBe(1n);
    expect(cache.stats().entries).toBe(0);
    expect(errors).toEqual(['serialise']);
  });
});
