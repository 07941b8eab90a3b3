import type { Logger } from 'pino';
import { repeatEvery, type Repeating } from '../../platform/repeat-every.js';
import type { CalibrationResult } from './grading-calibration.service.js';

export interface CalibrationScheduleDeps {
  rubrics(): Promise<{ id: string }[]>;
  calibrate(rubricId: string): Promise<CalibrationResult>;
  /** Once per key across every instance (claimOnce). */
  claim(key: string, now: number): Promise<boolean>;
  now(): number;
  logger: Pick<Logger, 'info' | 'warn'>;
}

// A scheduled calibration re-grades every anchor and override of every rubric with the
// model, and every instance keeps the schedule: run by each, N instances paid N times. The
// periods are fixed windows from the epoch, and the first instance to claim one runs it.
export async function runScheduledCalibration(d: CalibrationScheduleDeps, everyMs: number): Promise<boolean> {
  const now = d.now();
  if (!(await d.claim(`job:calibration:${everyMs}:${Math.floor(now / everyMs)}`, now))) return false;
  for (const r of await d.rubrics()) {
    const result = await d.calibrate(r.id);
    d.logger.info({ calibration: result }, 'grading calibration run');
  }
  return true;
}

// repeatEvery, not setInterval: a calibration schedule may be longer than a timer can wait.
export function startCalibrationSchedule(d: CalibrationScheduleDeps, everyMs: number): Repeating {
  return repeatEvery(everyMs, async () => {
    try {
      await runScheduledCalibration(d, everyMs);
    } catch (err) {
      d.logger.warn({ err: { message: (err as Error).message } }, 'calibration run failed');
    }
  });
}
