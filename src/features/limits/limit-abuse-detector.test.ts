import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createLimitAbuseDetector, type LimitAbuseEvent } from './limit-abuse-detector.js';
import { connectTestRedis, deletePrefix, testPrefix } from './rate-limiter.cases.js';

const refused = { allowed: false, violated: 'requestsPerMinute' as const };
const allowed = { allowed: true };

describe('limit abuse detector', () => {
  it('alerts once per user per window when the user keeps hitting limits', () => {
    let t = 0;
    const alerts: LimitAbuseEvent[] = [];
    const detector = createLimitAbuseDetector({ threshold: 5, windowSec: 60, onAlert: (e) => alerts.push(e), now: () => t });
    for (let i = 0; i < 4; i++) detector.observe('free', 'free:grading:u1', refused);
    expect(alerts).toEqual([]);
    for (let i = 0; i < 20; i++) detector.observe('free', 'free:grading:u1', refused);
    detector.observe('free', 'free:grading:u2', refused); // another user below threshold
    expect(alerts.filter((a) => a.kind === 'user')).toEqual([
      { kind: 'user', key: 'free:grading:u1', tier: 'free', rejections: 5, windowSec: 60, lastViolated: 'requestsPerMinute' },
    ]);
    t += 60_000; // next window: the same user may alert again
    for (let i = 0; i < 5; i++) detector.observe('free', 'free:grading:u1', refused);
    expect(alerts.filter((a) => a.kind === 'user')).toHaveLength(2);
  });

  it('alerts once when a tier’s rejection ratio passes the threshold, given enough decisions', () => {
    const alerts: LimitAbuseEvent[] = [];
    const detector = createLimitAbuseDetector({
      threshold: 1000,
      windowSec: 60,
      onAlert: (e) => alerts.push(e),
      tierRatioThreshold: 0.25,
      tierMinDecisions: 20,
      now: () => 0,
    });
    for (let i = 0; i < 15; i++) detector.observe('premium', `premium:grading:u${i}`, allowed);
    for (let i = 0; i < 4; i++) detector.observe('premium', `premium:grading:u${i}`, refused);
    expect(alerts).toEqual([]); // 4/19 is under 25% and under the sample floor anyway
    for (let i = 0; i < 10; i++) detector.observe('premium', 'premium:grading:x', refused);
    expect(alerts).toEqual([{ kind: 'tier', tier: 'premium', rejected: 6, total: 21, ratio: 6 / 21, windowSec: 60 }]);
    detector.observe('free', 'free:grading:x', refused); // other tier unaffected
    expect(alerts).toHaveLength(1);
  });

  it('survives an alert sink that throws', () => {
    const detector = createLimitAbuseDetector({ threshold: 1, windowSec: 60, onAlert: () => { throw new Error('sink down'); } });
    expect(() => detector.observe('free', 'k', refused)).not.toThrow();
  });
});

// Two instances behind a load balancer, each seeing part of a tier's traffic, on one Redis.
describe('limit abuse detector, shared across instances through Redis', () => {
  const prefix = testPrefix('abuse-tier');
  const clients: Redis[] = [];
  afterAll(async () => {
    await deletePrefix(clients[0]!, prefix);
    await Promise.all(clients.map((c) => c.quit()));
  });
  const settle = () => new Promise((r) => setTimeout(r, 0));

  it('judges a tier on the decisions of every instance and sends its notice once', async () => {
    const alerts: { instance: number; e: LimitAbuseEvent }[] = [];
    const detectors = await Promise.all(
      [0, 1].map(async (instance) => {
        const redis = await connectTestRedis();
        clients.push(redis);
        return createLimitAbuseDetector({ threshold: 1000, windowSec: 60, tierRatioThreshold: 0.25, tierMinDecisions: 20, now: () => 0, shared: { redis, prefix }, flushMs: 20, onAlert: (e) => alerts.push({ instance, e }) });
      }),
    );
    // 10 decisions on each instance: neither share reaches the 20 a ratio needs.
    for (let i = 0; i < 20; i++) detectors[i % 2]!.observe('premium', `u${i}`, i < 12 ? allowed : refused);
    await vi.waitFor(async () => expect(Number(await clients[0]!.hget(`${prefix}:tier:0:premium`, 'total'))).toBe(20));
    // 8 of 20 refused (40 %) once the 20th is counted, on whichever instance that was.
    await vi.waitFor(() => expect(alerts.map((a) => a.e)).toEqual([{ kind: 'tier', tier: 'premium', rejected: 8, total: 20, ratio: 0.4, windowSec: 60 }]));
    // Both instances keep seeing refusals: no second notice in the window.
    for (let i = 0; i < 20; i++) detectors[i % 2]!.observe('premium', `v${i}`, refused);
    await vi.waitFor(async () => expect(Number(await clients[0]!.hget(`${prefix}:tier:0:premium`, 'total'))).toBe(40));
    await settle();
    expect(alerts).toHaveLength(1);
  });

  it('sends a tier\'s decisions to Redis as one call per tier per flush, not one per request', async () => {
    const calls: string[][] = [];
    const recording = { defineCommand() {}, tgAbuseTiers: (...args: string[]) => (calls.push(args), Promise.resolve([0, 0, 0])), multi: () => ({ incrby: () => ({ pexpire: () => ({ exec: () => Promise.resolve([[null, 1]]) }) }) }) };
    const detector = createLimitAbuseDetector({ threshold: 1000, windowSec: 60, now: () => 0, shared: { redis: recording as never, prefix }, flushMs: 20, onAlert: () => {} });
    for (let i = 0; i < 300; i++) detector.observe(i % 3 === 0 ? 'free' : 'premium', `u${i}`, i % 5 === 0 ? refused : allowed);
    expect(calls).toEqual([]);
    await vi.waitFor(() => expect(calls).toHaveLength(2));
    // key, decisions, rejections: every decision counted once.
    expect(calls.map((c) => c.slice(0, 3)).sort()).toEqual([
      [`${prefix}:tier:0:free`, '100', '20'],
      [`${prefix}:tier:0:premium`, '200', '40'],
    ]);
  });

  it('sends a user\'s rejections to Redis as one increment per flush, and the instance that crosses the threshold alerts', async () => {
    const increments: [string, number][] = [];
    const counts = new Map<string, number>();
    const recording = {
      defineCommand() {},
      tgAbuseTiers: () => Promise.resolve([0, 0, 0]),
      multi: () => {
        let name = '';
        let by = 0;
        const chain = {
          incrby: (n: string, k: number) => ((name = n), (by = k), chain),
          pexpire: () => chain,
          exec: () => {
            increments.push([name, by]);
            counts.set(name, (counts.get(name) ?? 0) + by);
            return Promise.resolve([[null, counts.get(name)], [null, 1]]);
          },
        };
        return chain;
      },
    };
    const alerts: { instance: number; e: LimitAbuseEvent }[] = [];
    const detectors = [0, 1].map((instance) => createLimitAbuseDetector({ threshold: 20, windowSec: 60, now: () => 0, shared: { redis: recording as never, prefix }, flushMs: 20, onAlert: (e) => alerts.push({ instance, e }) }));
    for (let i = 0; i < 15; i++) detectors[0]!.observe('premium', 'flooder', refused);
    await vi.waitFor(() => expect(increments).toHaveLength(1));
    expect(alerts).toEqual([]);
    for (let i = 0; i < 15; i++) detectors[1]!.observe('premium', 'flooder', refused);
    await vi.waitFor(() => expect(increments).toHaveLength(2));
    expect(increments.map(([, by]) => by)).toEqual([15, 15]);
    // The second instance's 15 took the shared count from 15 to 30, across 20: it alerts, once.
    await vi.waitFor(() => expect(alerts).toEqual([{ instance: 1, e: { kind: 'user', key: 'flooder', tier: 'premium', rejections: 30, windowSec: 60, lastViolated: 'requestsPerMinute' } }]));
  });

  it('counts the tier on its own instance while Redis fails', async () => {
    const alerts: LimitAbuseEvent[] = [];
    const down = { defineCommand() {}, tgAbuseTiers: () => Promise.reject(new Error('down')), multi: () => ({ incrby: () => ({ pexpire: () => ({ exec: () => Promise.reject(new Error('down')) }) }) }) };
    const detector = createLimitAbuseDetector({ threshold: 1000, windowSec: 60, tierRatioThreshold: 0.25, tierMinDecisions: 20, now: () => 0, shared: { redis: down as never, prefix }, flushMs: 20, onAlert: (e) => alerts.push(e) });
    for (let i = 0; i < 20; i++) detector.observe('free', `u${i}`, i < 12 ? allowed : refused);
    await vi.waitFor(() => expect(alerts).toEqual([{ kind: 'tier', tier: 'free', rejected: 8, total: 20, ratio: 0.4, windowSec: 60 }]));
  });
});
