import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GradingRepository } from '../../src/features/grading/grading.repository.js';
import { openTestStore, STORE_KINDS, type TestStore } from '../helpers/databases.js';

// A calibration run's agreement reads back as the run reported it. The columns were `real`,
// which is a double on SQLite but a 4-byte float on Postgres: a run answering exact 1/3
// showed 0.33333334 in its history there (migration 0011).
describe.each(STORE_KINDS)('calibration history on %s', (kind) => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await openTestStore(kind);
  });
  afterAll(() => ts.cleanup());

  it('keeps kappa and exact agreement as computed, to the last digit', async () => {
    const repo = new GradingRepository(ts.store);
    const kappa = 0.8123456789012345;
    const exact = 1 / 3;
    await repo.insertCalibration({ id: 'cal_1', rubricId: 'r', rubricVersion: 1, model: 'm', templateVersion: 1, n: 3, kappa, exact, at: 1_000 });
    const [run] = await repo.calibrations('r');
    expect(run).toMatchObject({ kappa, exact });
  });

  it('reads each rubric\'s newest run, whichever instance stored it', async () => {
    const repo = new GradingRepository(ts.store);
    const run = (id: string, rubricId: string, kappa: number, at: number) => repo.insertCalibration({ id, rubricId, rubricVersion: 1, model: 'm', templateVersion: 1, n: 3, kappa, exact: 0.5, at });
    await run('cal_a1', 'a', 0.9, 2_000);
    await run('cal_a2', 'a', 0.4, 3_000);
    await run('cal_a0', 'a', 0.7, 1_000);
    await run('cal_b1', 'b', 0.75, 2_500);
    const latest = await repo.latestCalibrations();
    expect(latest.filter((l) => l.rubricId !== 'r')).toEqual([
      { rubricId: 'a', kappa: 0.4, at: 3_000 },
      { rubricId: 'b', kappa: 0.75, at: 2_500 },
    ]);
  });
});
