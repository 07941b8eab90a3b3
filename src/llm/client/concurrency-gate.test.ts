import { describe, expect, it } from 'vitest';
import { ConcurrencyGate, GateRejected } from './concurrency-gate.js';

describe('ConcurrencyGate', () => {
  it('admits maxInFlight, queues maxQueued, rejects the rest at once', async () => {
    const g = new ConcurrencyGate({ maxInFlight: 2, maxQueued: 1, queueTimeoutMs: 10_000 });
    const r1 = await g.acquire();
    await g.acquire();
    const queued = g.acquire();
    await expect(g.acquire()).rejects.toMatchObject({ reason: 'queue_full' });
    expect(g.queued).toBe(1);
    r1();
    const r3 = await queued;
    expect(g.inFlight).toBe(2);
    r3();
    r3(); // double release must not free a second slot
    expect(g.inFlight).toBe(1);
  });

  it('hands slots out in arrival order', async () => {
    const g = new ConcurrencyGate({ maxInFlight: 1, maxQueued: 5, queueTimeoutMs: 10_000 });
    const first = await g.acquire();
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) => g.acquire().then((rel) => (order.push(n), rel())));
    first();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
    expect(g.inFlight).toBe(0);
  });

  it('a waiter gives up after queueTimeoutMs and leaves the queue', async () => {
    const g = new ConcurrencyGate({ maxInFlight: 1, maxQueued: 1, queueTimeoutMs: 20 });
    await g.acquire();
    await expect(g.acquire()).rejects.toBeInstanceOf(GateRejected);
    expect(g.queued).toBe(0);
  });

  it('a signal aborted before acquire gets no slot, even a free one', async () => {
    const g = new ConcurrencyGate({ maxInFlight: 1, maxQueued: 1, queueTimeoutMs: 10_000 });
    await expect(g.acquire(AbortSignal.abort())).rejects.toMatchObject({ reason: 'aborted' });
    expect(g.inFlight).toBe(0);
  });

  it('an aborted waiter leaves the queue', async () => {
    const g = new ConcurrencyGate({ maxInFlight: 1, maxQueued: 1, queueTimeoutMs: 10_000 });
    await g.acquire();
    const ctl = new AbortController();
    const p = g.acquire(ctl.signal);
    ctl.abort();
    await expect(p).rejects.toMatchObject({ reason: 'aborted' });
    expect(g.queued).toBe(0);
  });
});
