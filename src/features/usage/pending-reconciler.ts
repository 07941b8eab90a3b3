import type { MeteringService } from './metering.service.js';

// Settles abandoned pending ledger rows while the service runs, not only at start-up: a
// settlement that failed after its answer (the database refused the write) left its
// worst-case budget hold and token count in place until the next restart. A row older
// than `olderThanMs` belongs to no live call on any instance (the client caps a call's
// total time far below it), and settling is conditional on the row still being pending,
// so instances running this side by side settle each row once.
export function startPendingReconciler(o: {
  metering: Pick<MeteringService, 'reconcile'>;
  everyMs: number;
  olderThanMs: number;
  onReconciled: (count: number) => void;
  onError: (err: unknown) => void;
}): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return; // the previous pass is still at it
    running = o.metering
      .reconcile(o.olderThanMs)
      .then((n) => (n > 0 ? o.onReconciled(n) : undefined), o.onError)
      .finally(() => (running = undefined));
  }, o.everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
