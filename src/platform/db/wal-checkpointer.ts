import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// SQLite in WAL mode appends every commit to the write-ahead log; a checkpoint copies the
// log's pages back into the database file (and syncs both). By default the connection
// that commits runs it, inside the commit that takes the log past 1,000 pages: on the
// service's event loop, where it stalls every request in flight for the copy and two
// syncs (scenario 4 of the bench: ~1.3 % of the service's CPU in profiles, and the
// requests behind it wait). Here a worker thread with its own connection runs PASSIVE
// checkpoints every `everyMs`, which never block the writer; the serving connection keeps
// a far larger automatic threshold as a backstop, so the log stays bounded if the worker
// ever falls behind or stops. ADR 0012.
//
// The worker's code is evaluated from a string, so it loads the same way from src/ (tsx,
// vitest) and dist/.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const SQLite = require(workerData.driver);
const db = new SQLite(workerData.path);
db.pragma('busy_timeout = 0');
let stopping = false;
let timer;
const tick = () => {
  if (stopping) return;
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true, log: row.log, checkpointed: row.checkpointed });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err && err.message || err) });
  }
  timer = setTimeout(tick, workerData.everyMs);
};
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  stopping = true;
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
timer = setTimeout(tick, workerData.everyMs);
`;

export interface CheckpointReport {
  ok: boolean;
  log?: number; // frames in the log
  checkpointed?: number; // of which copied back
  error?: string;
}

export interface WalCheckpointer {
  stop(): Promise<void>;
}

export function startWalCheckpointer(path: string, opts: { everyMs?: number; onReport?: (r: CheckpointReport) => void } = {}): WalCheckpointer {
  const worker = new Worker(WORKER, { eval: true, workerData: { path, everyMs: opts.everyMs ?? 200, driver: createRequire(import.meta.url).resolve('better-sqlite3') } });
  worker.unref(); // never what keeps a process alive while it runs...
  if (opts.onReport) worker.on('message', opts.onReport);
  worker.on('error', (err) => opts.onReport?.({ ok: false, error: err.message }));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    async stop() {
      // ... but while stopping it must be: the caller awaits its exit, and with nothing else
      // left on the event loop (a CLI command that failed and is closing the store in a
      // finally) an unreferenced worker let Node end the process right there, with code 0,
      // before the caller's catch could print the error and exit 1.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
