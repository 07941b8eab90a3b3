import { performance } from 'node:perf_hooks';

// Whether the event loop has been saturated lately: its utilisation (the share of time
// it spent running callbacks rather than waiting for I/O) over the last window of
// `windowMs`, above `threshold`. Sampled lazily when asked, at most once per window, so
// it needs no timer; an answer is at most one window old.
export function loopPressure(opts: { windowMs?: number; threshold?: number } = {}): () => boolean {
  const windowMs = opts.windowMs ?? 250;
  const threshold = opts.threshold ?? 0.9;
  let mark = performance.eventLoopUtilization();
  let at = performance.now();
  let busy = false;
  return () => {
    const now = performance.now();
    if (now - at >= windowMs) {
      const current = performance.eventLoopUtilization();
      busy = performance.eventLoopUtilization(current, mark).utilization > threshold;
      mark = current;
      at = now;
    }
    return busy;
  };
}
