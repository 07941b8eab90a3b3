// Runs `task` every `ms`, however long `ms` is, one run at a time.
//
// setInterval/setTimeout take at most 2^31-1 ms (24.8 days); a longer delay fires after
// 1 ms with a TimeoutOverflowWarning, so a policy asking for monthly calibration ran it
// (with paid LLM calls) a thousand times a second. Long waits here are made of shorter
// timers. The next run is scheduled when the previous one has finished, so a slow run
// never overlaps the next.
/** The longest wait a Node timer can hold; a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Repeating {
  stop(): void;
}

export function repeatEvery(ms: number, task: () => Promise<void>, now: () => number = Date.now): Repeating {
  if (!(ms > 0) || !Number.isFinite(ms)) throw new RangeError(`repeatEvery needs a positive, finite interval, got ${ms}`);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = (due: number) => {
    if (stopped) return;
    const left = due - now();
    if (left > 0) {
      timer = setTimeout(() => arm(due), Math.min(left, MAX_TIMER_MS));
      timer.unref();
      return;
    }
    void task()
      .catch(() => undefined) // the task reports its own failures; the schedule goes on
      .finally(() => arm(now() + ms));
  };
  arm(now() + ms);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
