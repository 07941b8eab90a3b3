import SQLite from 'better-sqlite3';
import { rmSync } from 'node:fs';
rmSync('/tmp/scratch/t.db', { force: true }); rmSync('/tmp/scratch/t.db-wal', { force: true });
const db = new SQLite('/tmp/scratch/t.db'); db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL');
db.exec(`create table b (key text primary key, spent integer not null, reserved integer not null, updated integer not null)`);
const one = db.prepare(`insert into b (key,spent,reserved,updated) values (?,0,?,?) on conflict (key) do update set reserved = b.reserved + excluded.reserved, updated = excluded.updated where b.spent + b.reserved + excluded.reserved <= ?`);
const three = db.prepare(`insert into b (key,spent,reserved,updated) values (?,0,?,?),(?,0,?,?),(?,0,?,?) on conflict (key) do update set reserved = b.reserved + excluded.reserved, updated = excluded.updated where b.spent + b.reserved + excluded.reserved <= 1e15`);
const upd1 = db.prepare(`update b set reserved = reserved - ?, spent = spent + ?, updated = ? where key = ? returning key, spent`);
const upd3 = db.prepare(`update b set reserved = reserved - ?, spent = spent + ?, updated = ? where key in (?,?,?) returning key, spent`);
const N = 20000;
const keys = ['user:u1:2026-11', 'feature:grading:2026-11-27', 'global:2026-11-27'];
const cases = {
  'ins single x3': () => { for (const k of keys) one.run(k, 5, 1, 1e15); },
  'ins multi': () => three.run(keys[0], 5, 1, keys[1], 5, 1, keys[2], 5, 1),
  'upd single x3': () => { for (const k of keys) upd1.all(5, 3, 1, k); },
  'upd multi': () => upd3.all(5, 3, 1, ...keys),
  'commit of 3 rows (txn)': db.transaction(() => { for (const k of keys) upd1.all(5, 3, 1, k); }),
};
for (let r = 0; r < 2; r++) for (const [name, f] of Object.entries(cases)) {
  const inTx = !name.includes('txn');
  if (inTx) db.exec('begin');
  for (let i = 0; i < 1000; i++) f();
  const s = process.hrtime.bigint(); for (let i = 0; i < N; i++) f(); const e = process.hrtime.bigint();
  if (inTx) db.exec('commit');
  console.log(name.padEnd(25), (Number(e - s) / N / 1000).toFixed(2), 'µs');
}
