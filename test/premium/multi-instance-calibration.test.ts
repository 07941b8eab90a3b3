import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALIBRATION_GAUGE_REFRESH_MS } from '../../src/features/grading/grading-calibration.service.js';
import { openTestStore, type TestStore } from '../helpers/databases.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

// The calibration gauge with two instances on one Postgres: one instance runs each period's
// calibration (the claim in notifications_sent), and Prometheus scrapes both.
describe('calibration gauge with two instances on one Postgres', () => {
  let store: TestStore;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    store = await openTestStore('postgres');
    a = await createTestApp({ store });
    b = await createTestApp({ store });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await store?.cleanup();
  });

  const kappa = async (t: TestApp, rubric: string) => {
    const m = new RegExp(`^tutorgate_grading_calibration_kappa\\{rubric="${rubric}"\\} (\\S+)$`, 'm').exec((await t.app.inject({ method: 'GET', url: '/metrics' })).body);
    return m ? Number(m[1]) : undefined;
  };

  it('every instance reports the newest stored run, not only the instance that ran it', async () => {
    expect(await kappa(a, 'demo-evaporation')).toBeUndefined(); // nothing run yet
    const run = await a.container.grading.calibration.calibrate('demo-evaporation');
    expect(run.kappa).not.toBeNull();
    // The instance that ran it shows it at its next scrape, though it read the store just before.
    expect(await kappa(a, 'demo-evaporation')).toBeCloseTo(run.kappa!, 12);
    // So does the other instance, which never ran a calibration.
    expect(await kappa(b, 'demo-evaporation')).toBeCloseTo(run.kappa!, 12);

    // A later run stored by a third instance reaches both within the refresh interval.
    await a.container.grading.repo.insertCalibration({ id: 'cal_other_instance', rubricId: 'demo-evaporation', rubricVersion: 1, model: 'claude-haiku-4-5', templateVersion: 1, n: 4, kappa: -0.25, exact: 0.25, at: a.clock.now() + 1 });
    for (const t of [a, b]) {
      t.clock.advance(CALIBRATION_GAUGE_REFRESH_MS);
      expect(await kappa(t, 'demo-evaporation')).toBe(-0.25);
    }
  });
});
