import { describe, expect, it } from 'vitest';
import { DeferredWork } from './deferred-work.js';

describe('DeferredWork', () => {
  it('runs work after the current turn, and drain waits for it and for work it started', async () => {
    const log: string[] = [];
    const work = new DeferredWork(() => {});
    work.later('a', async () => {
      log.push('a');
      work.later('b', async () => void log.push('b'));
    });
    await Promise.resolve();
    log.push('turn');
    expect(log).toEqual(['turn']);
    await work.drain();
    expect(log).toEqual(['turn', 'a', 'b']);
    expect(work.size).toBe(0);
  });

  it('reports a failure with its label instead of throwing it', async () => {
    const failures: string[] = [];
    const work = new DeferredWork((err, label) => failures.push(`${label}: ${(err as Error).message}`));
    work.later('settle', async () => {
      throw new Error('database gone');
    });
    await work.drain();
    expect(failures).toEqual(['settle: database gone']);
  });
});
