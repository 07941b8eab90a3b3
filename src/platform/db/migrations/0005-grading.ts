import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('rubrics')
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('owner_id', 'text') // null: shipped demo rubric, visible to everyone
    .addColumn('definition_json', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('rubrics_pk', ['id', 'version'])
    .execute();
  await db.schema
    .createTable('evaluations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('rubric_id', 'text', (c) => c.notNull())
    .addColumn('rubric_version', 'integer', (c) => c.notNull())
    .addColumn('rubric_json', 'text') // inline and default rubrics, which have no stored version
    .addColumn('question', 'text', (c) => c.notNull())
    .addColumn('answer', 'text', (c) => c.notNull())
    .addColumn('result_json', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('confidence', 'real', (c) => c.notNull())
    .addColumn('review_status', 'text', (c) => c.notNull()) // none | pending | resolved
    .addColumn('review_reasons', 'text')
    .addColumn('override_json', 'text')
    .addColumn('reviewed_by', 'text')
    .addColumn('reviewed_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('evaluations_user_idx').on('evaluations').columns(['user_id', 'created_at']).execute();
  await db.schema.createIndex('evaluations_review_idx').on('evaluations').columns(['review_status', 'created_at']).execute();
  await db.schema
    .createTable('calibration_runs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('rubric_id', 'text', (c) => c.notNull())
    .addColumn('rubric_version', 'integer', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('template_version', 'integer', (c) => c.notNull())
    .addColumn('n', 'integer', (c) => c.notNull())
    .addColumn('kappa', 'real', (c) => c.notNull())
    .addColumn('exact', 'real', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['calibration_runs', 'evaluations', 'rubrics']) await db.schema.dropTable(t).execute();
}
