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
});
