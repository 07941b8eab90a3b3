// Why ids are UUIDv7 (src/platform/ids.ts): inserting into a table with a text primary key
// that already holds 300,000 rows, in commits of 10 rows as group commit makes them, with
// random (v4) ids against time-ordered ones (newId). Time per row and write-ahead-log bytes
// per row, on a SQLite file as the service opens it (WAL, synchronous NORMAL; automatic
// checkpoints off so the log holds every page the commits wrote). Two rounds, alternating.
// Run: npx tsx bench/ids.bench.ts  → bench/results/ids.json
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import SQLite from 'better-sqlite3';
import { newId } from '../src/platform/ids.js';

const EXISTING = 300_000;
const COMMITS = 2_000;
const PER_COMMIT = 10;
const randomId = (prefix: string) => `${prefix}_${randomUUID().replaceAll('-', '')}`;

function measure(id: (prefix: string) => string): { usPerRow: number; walKiBPerRow: number } {
  const dir = mkdtempSync(join(os.tmpdir(), 'tg-ids-'));
  try {
    const db = new SQLite(join(dir, 'ids.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec('create table t (id text primary key, user_id text not null, body text not null, created_at integer not null)');
    const insert = db.prepare('insert into t values (?, ?, ?, ?)');
    const body = 'x'.repeat(300); // about a ledger row
    const rows = db.transaction((n: number) => {
      for (let i = 0; i < n; i++) insert.run(id('use'), `u${i % 500}`, body, Date.now());
    });
    rows(EXISTING);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.pragma('wal_autocheckpoint = 0');
    const started = process.hrtime.bigint();
    for (let c = 0; c < COMMITS; c++) rows(PER_COMMIT);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const walBytes = statSync(join(dir, 'ids.db-wal')).size;
    db.close();
    const n = COMMITS * PER_COMMIT;
    return { usPerRow: Math.round((ms * 1000 * 10) / n) / 10, walKiBPerRow: Math.round((walBytes / 1024 / n) * 100) / 100 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const rounds = [1, 2].map(() => ({ random: measure(randomId), timeOrdered: measure(newId) }));
for (const [i, r] of rounds.entries()) {
  console.log(`round ${i + 1}: random ids ${r.random.usPerRow} µs/row, WAL ${r.random.walKiBPerRow} KiB/row; UUIDv7 ${r.timeOrdered.usPerRow} µs/row, WAL ${r.timeOrdered.walKiBPerRow} KiB/row`);
}
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'ids.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ generatedAt: new Date().toISOString(), node: process.version, existingRows: EXISTING, rowsPerCommit: PER_COMMIT, commits: COMMITS, rounds }, null, 2) + '\n');
