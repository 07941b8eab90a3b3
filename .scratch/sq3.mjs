import SQLite from 'better-sqlite3';
import { rmSync } from 'node:fs';
rmSync('/tmp/scratch/t.db', { force: true }); rmSync('/tmp/scratch/t.db-wal', { force: true });
const db = new SQLite('/tmp/scratch/t.db'); db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL');
db.exec(`create table b (key text primary key, spent integer not null, reserved integer not null, updated integer not null)`);
const keys = ['user:u1:2026-11', 'feature:grading:2026-11-27', 'global:2026-11-27'];
for (const k of keys) db.prepare('insert into b values (?,0,0,0)').run(k);
const N = 20000;
const stmts = {
  'upd ret .all': [db.prepare(`update b set reserved = reserved - ?, spent = spent + ?, updated = ? where key = ? returning key, spent`), 'all'],
  'upd noret .run': [db.prepare(`update b set reserved = reserved - ?, spent = spent + ?, updated = ? where key = ?`), 'run'],
  'upd ret .get': [db.prepare(`update b set reserved = reserved - ?, spent = spent + ?, updated = ? where key = ? returning key, spent`), 'get'],
  'select .all': [db.prepare(`select key, spent from b where key = ? and ? + ? + ? > 0`), 'all'],
};
for (let r = 0; r < 2; r++) for (const [name, [st, m]] of Object.entries(stmts)) {
  const args = name.startsWith('select') ? [keys[0], 5, 3, 1] : [5, 3, 1, keys[0]];
  db.exec('begin');
  for (let i = 0; i < 1000; i++) st[m](...(name.startsWith('select') ? [keys[i%3], 5, 3, 1] : [5, 3, 1, keys[i % 3]]));
  const s = process.hrtime.bigint(); for (let i = 0; i < N; i++) st[m](...(name.startsWith('select') ? [keys[i%3], 5, 3, 1] : [5, 3, 1, keys[i % 3]])); const e = process.hrtime.bigint();
  db.exec('commit');
  console.log(name.padEnd(25), (Number(e - s) / N / 1000).toFixed(2), 'µs');
}
