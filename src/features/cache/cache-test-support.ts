// Helpers shared by this folder's Redis-backed tests (not a test file itself).
import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { CacheManager } from './cache-manager.js';

// Production-shaped (no offline queue), with a timeout loose enough for a loaded CI box.
export const FAIL_FAST: RedisOptions = { enableOfflineQueue: false, commandTimeout: 2_000, maxRetriesPerRequest: 1 };

export async function connectRedis(options: RedisOptions = {}): Promise<Redis> {
  const r = new Redis({ host: '127.0.0.1', port: 6379, ...FAIL_FAST, ...options, lazyConnect: true });
  r.on('error', () => {});
  await r.connect();
  return r;
}

export function testPrefix(file: string): string {
  return `test:${file}:${randomUUID()}:`;
}

export async function deleteByPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, limitMs = 5_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The memory tier is only used once the invalidation channel is subscribed; wait for that. */
export async function whenSubscribed(cache: CacheManager): Promise<void> {
  const probeTag = `probe:${randomUUID()}`;
  const probeKey = `tg:c:probe:shared:${randomUUID()}`;
  await waitFor(async () => {
    await cache.set(probeKey, { value: 1, storedAt: 0 }, 60_000, [probeTag]);
    return cache.stats().entries > 0;
  }, 'cache subscription');
  await cache.invalidateTags([probeTag]);
}

export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
