import { sql, SqliteAdapter, type Kysely } from 'kysely';

// A calibration run's agreement (kappa, exact) was declared `real`: a double on SQLite,
// a 4-byte float on Postgres, where a run that answered exact 1/3 read back 0.33333334
// in its history. Postgres only: SQLite's REAL is a double already.
//
// Widening, so expand-only: the code of the version before reads and writes the same
// numbers. Rows stored before keep the value they showed (cast through their text,
// 0.33333334, not the float's binary 0.3333333432674408). calibration_runs holds a row
// per rubric per scheduled run, so rewriting it is quick. evaluations.confidence is
// `real` too but is never read back (the grade's confidence is in result_json), and
// rewriting that large table is not worth it.
const onSqlite = (db: Kysely<unknown>) => db.getExecutor().adapter instanceof SqliteAdapter;

export async function up(db: Kysely<unknown>): Promise<void> {
  if (onSqlite(db)) return;
  await sql`alter table calibration_runs alter column kappa type double precision using kappa::text::double precision, alter column exact type double precision using exact::text::double precision`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (onSqlite(db)) return;
  await sql`alter table calibration_runs alter column kappa type real, alter column exact type real`.execute(db);
}
