import { describe, expect, it } from 'vitest';
import { CALIBRATION_GAUGE_REFRESH_MS } from '../../src/features/grading/grading-calibration.service.js';
import type { TestApp } from '../helpers/test-app.js';
import { twoInstancesOnPostgres } from '../helpers/two-instances.js';

// The calibration gauge with two instances on one Postgres: one instance runs each period's
// calibration (the claim in notifications_sent), and Prometheus scrapes both.
describe('calibration gauge with two instances on one Postgres', () => {
  const two = twoInstancesOnPostgres();

  const kappa = async (t: TestApp, rubric: string) => {
    const m = new RegExp(`^tutorgate_grading_calibration_kappa\\{rubric="${rubric}"\\} (\\S+)$`, 'm').exec((await t.app.inject({ method: 'GET', url: '/metrics' })).body);
    return m ? Number(m[1]) : undefined;
  };

  it('every instance reports the newest stored run, not only the instance that ran it', async () => {
    expect(await kappa(two.a, 'demo-evaporation')).toBeUndefined(); // nothing run yet
    const run = await two.a.container.grading.calibration.calibrate('demo-evaporation');
    expect(run.kappa).not.toBeNull();
    // The instance that ran it shows it at its next scrape, though it read the store just before.
    expect(await kappa(two.a, 'demo-evaporation')).toBeCloseTo(run.kappa!, 12);
    // So does the other instance, which never ran a calibration.
    expect(await kappa(two.b, 'demo-evaporation')).toBeCloseTo(run.kappa!, 12);

    // A later run stored by a third instance reaches both within the refresh interval.
    await two.a.container.grading.repo.insertCalibration({ id: 'cal_other_instance', rubricId: 'demo-evaporation', rubricVersion: 1, model: 'claude-haiku-4-5', templateVersion: 1, n: 4, kappa: -0.25, exact: 0.25, at: two.a.clock.now() + 1 });
    for (const t of [two.a, two.b]) {
      t.clock.advance(CALIBRATION_GAUGE_REFRESH_MS);
      expect(await kappa(t, 'demo-evaporation')).toBe(-0.25);
    }
  });
});
