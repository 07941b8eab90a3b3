import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './circuit-breaker.js';

function setup(threshold = 3, openMs = 1000, probes = 1) {
  let t = 0;
  const opened: string[] = [];
  const b = new CircuitBreaker({ failureThreshold: threshold, openMs, halfOpenProbes: probes }, () => t, (r) => opened.push(r));
  return { b, opened, advance: (ms: number) => (t += ms) };
}

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures; a success in between resets the count', () => {
    const { b, opened } = setup(3);
    b.acquire()!.failure();
    b.acquire()!.failure();
    b.acquire()!.success();
    b.acquire()!.failure();
    b.acquire()!.failure();
    expect(b.state()).toBe('closed');
    b.acquire()!.failure();
    expect(b.state()).toBe('open');
    expect(b.acquire()).toBeNull();
    expect(opened).toEqual(['3 consecutive upstream failures']);
  });

  it('half-opens after openMs, lets only halfOpenProbes through, and a good probe closes it', () => {
    const { b, advance } = setup(1, 1000, 1);
    b.acquire()!.failure();
    advance(999);
    expect(b.state()).toBe('open');
    advance(1);
    expect(b.state()).toBe('half_open');
    const probe = b.acquire()!;
    expect(b.acquire()).toBeNull();
    probe.success();
    expect(b.state()).toBe('closed');
    expect(b.acquire()).not.toBeNull();
  });

  it('a failed probe reopens it for a full openMs', () => {
    const { b, advance } = setup(1, 1000);
    b.acquire()!.failure();
    advance(1000);
    b.acquire()!.failure();
    expect(b.state()).toBe('open');
    advance(999);
    expect(b.state()).toBe('open');
  });

  it('a released probe frees its slot without a verdict', () => {
    const { b, advance } = setup(1, 1000);
    b.acquire()!.failure();
    advance(1000);
    b.acquire()!.release();
    expect(b.state()).toBe('half_open');
    expect(b.acquire()).not.toBeNull();
  });

  it('trip opens at once; a stale permit from before cannot close it', () => {
    const { b } = setup(5);
    const old = b.acquire()!;
    b.trip('401');
    expect(b.state()).toBe('open');
    old.success();
    expect(b.state()).toBe('open');
    b.reset();
    expect(b.state()).toBe('closed');
  });
});
