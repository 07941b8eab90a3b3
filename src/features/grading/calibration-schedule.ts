import type { Logger } from 'pino';
import { MAX_TIMER_MS, type Repeating } from '../../platform/repeat-every.js';
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
// A claim is taken before the run: a run cut short (the instance killed) is not taken up by
// another instance before the next period (at most once, never twice, per period).
export async function runScheduledCalibration(d: CalibrationScheduleDeps, everyMs: number): Promise<boolean> {
  const now = d.now();
  const period = Math.floor(now / everyMs);
  if (!(await d.claim(`job:calibration:${everyMs}:${period}`, now))) {
    d.logger.info({ period, everyMs }, 'calibration period already run by an instance');
    return false;
  }
  for (const r of await d.rubrics()) {
    const result = await d.calibrate(r.id);
    d.logger.info({ calibration: result }, 'grading calibration run');
  }
  return true;
}

// Tries the current period at start-up, then each new period as it begins. It used to wait a
// whole period from the instance's start before its first try (repeatEvery), so a fleet
// restarted more often than the period (a weekly calibration, deploys every few days) never
// calibrated, and a run's duration pushed each later try a little further, past whole
// periods in time. Every instance tries at each boundary; the claim picks one.
export function startCalibrationSchedule(d: CalibrationScheduleDeps, everyMs: number): Repeating {
  if (!(everyMs > 0) || !Number.isFinite(everyMs)) throw new RangeError(`calibration needs a positive, finite period, got ${everyMs}`);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const attempt = async () => {
    try {
      await runScheduledCalibration(d, everyMs);
    } catch (err) {
      d.logger.warn({ err: { message: (err as Error).message } }, 'calibration run failed');
    }
  };
  const arm = (due: number): void => {
    if (stopped) return;
    const left = due - d.now();
    if (left > 0) {
      // A period may be longer than a Node timer can wait (MAX_TIMER_MS): wait in steps.
      timer = setTimeout(() => arm(due), Math.min(left, MAX_TIMER_MS));
      timer.unref();
      return;
    }
    void attempt().finally(() => arm(nextPeriodStart(d.now(), everyMs)));
  };
  arm(d.now()); // the current period, at once: it may never have been run
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

export function nextPeriodStart(now: number, everyMs: number): number {
  return (Math.floor(now / everyMs) + 1) * everyMs;
}
