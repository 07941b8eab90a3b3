import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from './database.js';
import { migrateUp } from './migrator.js';
import type { CheckpointReport } from './wal-checkpointer.js';

// Frames in the write-ahead log, and how many of them are copied back, as the serving
// connection sees them (a PASSIVE checkpoint that finds nothing to do just reports).
const walFrames = async (store: Store) => (await sql<{ log: number; checkpointed: number }>`pragma wal_checkpoint(PASSIVE)`.execute(store.db)).rows[0]!;
const autocheckpoint = async (store: Store) => (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(store.db)).rows[0]!.wal_autocheckpoint;
const commits = async (store: Store, n: number, from = 0) => {
  for (let i = from; i < from + n; i++) await sql`insert into notifications_sent (key, sent_at) values (${`k${i}`}, ${i})`.execute(store.db);
};

describe('background WAL checkpoints (ADR 0012)', () => {
  const dirs: string[] = [];
  const stores: Store[] = [];
  const open = async (opts: Parameters<typeof openStore>[1]) => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-wal-'));
    dirs.push(dir);
    const store = openStore(`sqlite:${join(dir, 'tutorgate.db')}`, opts);
    stores.push(store);
    await migrateUp(store.db);
    return store;
  };
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('a worker copies the log back while the serving connection only commits, so the log starts over', { timeout: 30_000 }, async () => {
    const reports: CheckpointReport[] = [];
    const store = await open({ backgroundCheckpoints: { everyMs: 10, onReport: (r) => reports.push(r) } });
    expect(await autocheckpoint(store)).toBe(10_000); // the serving connection's backstop
    await commits(store, 1_500); // ~3,000 frames: far past SQLite's default threshold of 1,000
    // The worker catches up with everything committed...
    await vi.waitFor(() => expect(reports.at(-1)).toMatchObject({ ok: true, checkpointed: reports.at(-1)?.log }), { timeout: 10_000 });
    expect(reports.some((r) => (r.checkpointed ?? 0) > 1_000)).toBe(true);
    // ... so the next commit rewinds the log to its start instead of growing it.
    await commits(store, 1, 1_500);
    expect((await walFrames(store)).log).toBeLessThan(20);
    expect(reports.every((r) => r.ok)).toBe(true);
  });

  it('without it, the serving connection keeps SQLite default threshold and nothing else copies the log', async () => {
    const store = await open({});
    expect(await autocheckpoint(store)).toBe(1_000);
    await sql`pragma wal_autocheckpoint = 100000`.execute(store.db); // as if its threshold were the backstop
    await commits(store, 1_500);
    await new Promise((r) => setTimeout(r, 100));
    expect((await walFrames(store)).log).toBeGreaterThan(2_000); // still growing: no one else checkpoints
  });

  it('close stops the worker and closes the database', async () => {
    const reports: CheckpointReport[] = [];
    const store = await open({ backgroundCheckpoints: { everyMs: 5, onReport: (r) => reports.push(r) } });
    await vi.waitFor(() => expect(reports.length).toBeGreaterThan(0));
    await store.close();
    stores.splice(stores.indexOf(store), 1);
    const seen = reports.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(reports.length).toBe(seen);
  });
});
