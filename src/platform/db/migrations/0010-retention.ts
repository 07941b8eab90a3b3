import { sql, type Kysely } from 'kysely';

// Retention (ADR 0017). Expand only: code of the version before ignores the new columns
// and reads through the same rows, so rolling back needs no restore.
//
// Indexes: the retention job deletes the oldest rows of three tables in batches, by age
// alone. Their only time indexes lead with user_id, so without these each batch would
// scan the table. Times grow with the clock, so each index grows at its right edge and
// an insert dirties the last leaf page only.
//
// learner_states.base_*: the knowledge state of a learner's events the job has deleted,
// folded in time order (null: none yet, the empty state). A replay of the learner's
// history (an attempt arriving out of order) starts from it instead of from nothing, so
// deleting old attempts never changes mastery (learner-model.ts).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('evaluations_created_idx').ifNotExists().on('evaluations').column('created_at').execute();
  await db.schema.createIndex('progress_events_at_idx').ifNotExists().on('progress_events').column('at').execute();
  await db.schema.createIndex('recommendations_at_idx').ifNotExists().on('recommendations').column('at').execute();
  await db.schema.alterTable('learner_states').addColumn('base_json', 'text').execute();
  await db.schema.alterTable('learner_states').addColumn('base_events', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('learner_states').addColumn('base_last_at', 'bigint', (c) => c.notNull().defaultTo(sql`0`)).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Dropping the baseline loses what the deleted events taught a replay; the state itself
  // (what mastery reads) stays, and the version before never replays from a baseline.
  await db.schema.alterTable('learner_states').dropColumn('base_last_at').execute();
  await db.schema.alterTable('learner_states').dropColumn('base_events').execute();
  await db.schema.alterTable('learner_states').dropColumn('base_json').execute();
  await db.schema.dropIndex('recommendations_at_idx').execute();
  await db.schema.dropIndex('progress_events_at_idx').execute();
  await db.schema.dropIndex('evaluations_created_idx').execute();
}
