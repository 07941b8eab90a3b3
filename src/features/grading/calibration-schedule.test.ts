import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore, STORE_KINDS, type TestStore } from '../../../test/helpers/databases.js';
import { claimOnce } from '../../platform/db/claim-once.js';
import { runScheduledCalibration, type CalibrationScheduleDeps } from './calibration-schedule.js';

const HOUR = 3_600_000;

describe.each(STORE_KINDS)('scheduled calibration on %s', (kind) => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await openTestStore(kind);
  });
  afterAll(() => ts.cleanup());

  it('runs once per period however many instances keep the schedule', async () => {
    const calibrated: string[] = [];
    let now = 10 * HOUR + 5_000;
    const instance = (name: string): CalibrationScheduleDeps => ({
      rubrics: async () => [{ id: 'r1' }, { id: 'r2' }],
      calibrate: async (id) => (calibrated.push(`${name}:${id}`), { rubricId: id, rubricVersion: 1, n: 0, kappa: null, exact: null, llmGraded: 0 }),
      claim: (key, at) => claimOnce(ts.store.db, key, at),
      now: () => now,
      logger: { info: () => {}, warn: () => {} },
    });
    const [a, b, c] = [instance('a'), instance('b'), instance('c')];
    // Three instances' timers fire within one hour-long period: one of them calibrates.
    expect(await Promise.all([a, b, c].map((d) => runScheduledCalibration(d, HOUR)))).toEqual([true, false, false]);
    now += 20 * 60_000;
    expect(await runScheduledCalibration(b, HOUR)).toBe(false);
    now += HOUR; // the next period
    expect(await runScheduledCalibration(c, HOUR)).toBe(true);
    expect(calibrated).toEqual(['a:r1', 'a:r2', 'c:r1', 'c:r2']);
    // Another schedule length is another series of periods.
    expect(await runScheduledCalibration(a, 2 * HOUR)).toBe(true);
  });
});
