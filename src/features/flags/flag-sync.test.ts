import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { FlagSnapshot } from './flag-snapshot.js';
import { createFlagSync, type FlagSync, type FlagSyncStage } from './flag-sync.js';
import type { FlagContext, FlagDefinition } from './flag.types.js';

const ctx: FlagContext = { userId: 'u-1', tier: 'premium', roles: [] };
const defaults: FlagDefinition[] = [{ key: 'grading', enabled: true, rollout: 100 }];

// Stands in for the lead's SQL store: both instances read the same rows.
function memoryStore() {
  const rows = new Map<string, FlagDefinition>();
  let reads = 0;
  return {
    rows,
    get reads() {
      return reads;
    },
    reload: async () => {
      reads++;
      return [...rows.values()].map((d) => structuredClone(d));
    },
  };
}

// Polls a condition; fails only if it is still false after `ms`.
async function within(ms: number, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

function track<T extends FlagSync>(sync: T): T {
  cleanup.push(() => sync.stop());
  return sync;
}

function redisClient(opts: RedisOptions = {}): Redis {
  const r = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1, ...opts });
  r.on('error', () => {}); // connection errors are the point of some tests
  cleanup.push(async () => r.disconnect());
  return r;
}

describe('FlagSync over Redis pub/sub', () => {
  it('makes a change on one instance visible on the other within one second', async () => {
    const channel = `tg:flags:changed:test:${randomUUID()}`;
    const store = memoryStore();
    const a = new FlagSnapshot({ defaults });
    const b = new FlagSnapshot({ defaults });
    const errors: unknown[] = [];
    // Polling off: only pub/sub can carry the change.
    const syncA = track(createFlagSync({ snapshot: a, reload: store.reload, redis: redisClient(), channel, pollMs: 0, onError: (e) => errors.push(e) }));
    const syncB = track(createFlagSync({ snapshot: b, reload: store.reload, redis: redisClient(), channel, pollMs: 0, onError: (e) => errors.push(e) }));
    await syncA.start();
    await syncB.start();
    expect(b.isEnabled('grading', ctx)).toBe(true);

    store.rows.set('grading', { key: 'grading', enabled: false, rollout: 100, version: 2 });
    await syncA.notifyChanged();
    expect(a.isEnabled('grading', ctx)).toBe(false); // the writer sees its change at once
    await within(1000, () => !b.isEnabled('grading', ctx));

    // And back: deleting the override restores the policy default everywhere.
    store.rows.delete('grading');
    await syncB.notifyChanged();
    await within(1000, () => a.isEnabled('grading', ctx));
    expect(errors).toEqual([]);
  });

  it('catches up on a change announced while it was still subscribing', async () => {
    const channel = `tg:flags:changed:test:${randomUUID()}`;
    const store = memoryStore();
    const b = new FlagSnapshot({ defaults });
    const publisher = redisClient();
    let first = true;
    // An instance starting while an admin pulls the kill switch: its first read sees the flag
    // on, and the change is announced before it has subscribed (polling off: a missed message
    // would otherwise wait for the next healthy poll, 30 s by default).
    const reload = async () => {
      const defs = await store.reload();
      if (first) {
        first = false;
        store.rows.set('grading', { key: 'grading', enabled: false, rollout: 100, version: 1 });
        await publisher.publish(channel, 'changed');
      }
      return defs;
    };
    const syncB = track(createFlagSync({ snapshot: b, reload, redis: redisClient(), channel, pollMs: 0 }));
    await syncB.start();
    expect(b.isEnabled('grading', ctx)).toBe(false);
  });

  it('reacts to a bare message from any publisher', async () => {
    const channel = `tg:flags:changed:test:${randomUUID()}`;
    const store = memoryStore();
    const b = new FlagSnapshot({ defaults });
    const syncB = track(createFlagSync({ snapshot: b, reload: store.reload, redis: redisClient(), channel, pollMs: 0 }));
    await syncB.start();
    store.rows.set('grading', { key: 'grading', enabled: false, rollout: 100 });
    await redisClient().publish(channel, 'changed');
    await within(1000, () => !b.isEnabled('grading', ctx));
  });
});

describe('FlagSync poll fallback', () => {
  it('propagates changes without Redis', async () => {
    const store = memoryStore();
    const a = new FlagSnapshot({ defaults });
    const b = new FlagSnapshot({ defaults });
    const syncA = track(createFlagSync({ snapshot: a, reload: store.reload, pollMs: 100 }));
    const syncB = track(createFlagSync({ snapshot: b, reload: store.reload, pollMs: 100 }));
    await syncA.start();
    await syncB.start();
    store.rows.set('grading', { key: 'grading', enabled: false, rollout: 100 });
    await syncA.notifyChanged();
    expect(a.isEnabled('grading', ctx)).toBe(false);
    await within(1000, () => !b.isEnabled('grading', ctx));
  });

  it('keeps working, and never hangs the writer, when Redis is unreachable', async () => {
    const store = memoryStore();
    const stages: FlagSyncStage[] = [];
    const onError = (_e: unknown, stage: FlagSyncStage) => stages.push(stage);
    // Port 1: nothing listens there; ioredis keeps retrying in the background.
    const dead = () => redisClient({ port: 1, retryStrategy: () => 50 });
    const a = new FlagSnapshot({ defaults });
    const b = new FlagSnapshot({ defaults });
    const syncA = track(createFlagSync({ snapshot: a, reload: store.reload, redis: dead(), pollMs: 100, redisTimeoutMs: 200, onError }));
    const syncB = track(createFlagSync({ snapshot: b, reload: store.reload, redis: dead(), pollMs: 100, redisTimeoutMs: 200, onError }));
    await syncA.start();
    await syncB.start();
    store.rows.set('grading', { key: 'grading', enabled: false, rollout: 100 });
    await syncA.notifyChanged();
    expect(a.isEnabled('grading', ctx)).toBe(false);
    await within(1000, () => !b.isEnabled('grading', ctx));
    expect(stages).toContain('subscribe');
    expect(stages).toContain('publish');
  });

  it('with a probe, reloads only when the marker moves and retries after a failed load', async () => {
    const store = memoryStore();
    let marker = 'v1';
    let failNext = false;
    const errors: unknown[] = [];
    const s = new FlagSnapshot({ defaults });
    const reload = async () => {
      if (failNext) {
        failNext = false;
        throw new Error('db down');
      }
      return store.reload();
    };
    const sync = track(createFlagSync({ snapshot: s, reload, probe: async () => marker, pollMs: 20, onError: (e) => errors.push(e) }));
    await sync.start();
    const readsAfterStart = store.reads;

    store.rows.set('grading', { key: 'grading', enabled: false, rollout: 100 });
    failNext = true;
    marker = 'v2';
    await within(1000, () => !s.isEnabled('grading', ctx));
    expect(errors.map(String)).toEqual(['Error: db down']);

    // Marker unchanged → no further store reads.
    const reads = store.reads;
    await new Promise((r) => setTimeout(r, 100));
    expect(store.reads).toBe(reads);
    expect(reads).toBeGreaterThan(readsAfterStart);
  });
});

describe('FlagSync refresh', () => {
  it('coalesces triggers during a reload into exactly one more pass', async () => {
    const s = new FlagSnapshot({ defaults });
    let calls = 0;
    const gates: (() => void)[] = [];
    const reload = () =>
      new Promise<FlagDefinition[]>((resolve) => {
        calls++;
        gates.push(() => resolve([{ key: 'grading', enabled: calls % 2 === 0, rollout: 100 }]));
      });
    const sync = createFlagSync({ snapshot: s, reload, pollMs: 0 });
    const first = sync.refresh();
    const second = sync.refresh();
    const third = sync.refresh();
    expect(calls).toBe(1);
    gates.shift()!();
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(2);
    gates.shift()!();
    await Promise.all([first, second, third]);
    expect(calls).toBe(2);
    // The pass that started after the triggers decides the final state.
    expect(s.isEnabled('grading', ctx)).toBe(true);
  });
});
