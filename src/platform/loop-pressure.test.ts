import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { loopPressure } from './loop-pressure.js';

const spin = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe('loopPressure', () => {
  it('reports a loop that ran callbacks for the whole window as saturated, and an idle one as not', async () => {
    const saturated = loopPressure({ windowMs: 40, threshold: 0.75 });
    expect(saturated()).toBe(false); // nothing measured yet
    spin(60);
    expect(saturated()).toBe(true);
    await sleep(80); // waiting on a timer: the loop is idle
    expect(saturated()).toBe(false);
  });

  it('keeps its answer until a window has passed', () => {
    const saturated = loopPressure({ windowMs: 10_000 });
    spin(30);
    expect(saturated()).toBe(false); // the first window has not ended
  });
});
