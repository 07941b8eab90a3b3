import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('catalogs')
    .addColumn('version', 'text', (c) => c.primaryKey())
    .addColumn('catalog_json', 'text', (c) => c.notNull())
    .addColumn('active', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('progress_events')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('item_id', 'text', (c) => c.notNull())
    .addColumn('correct', 'integer', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('progress_events_pk', ['user_id', 'event_id'])
    .execute();
  await db.schema.createIndex('progress_events_user_at_idx').on('progress_events').columns(['user_id', 'at']).execute();
  await db.schema
    .createTable('learner_states')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('state_json', 'text', (c) => c.notNull())
    .addColumn('last_event_at', 'bigint', (c) => c.notNull())
    .addColumn('events', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('kt_params')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('params_json', 'text', (c) => c.notNull())
    .addColumn('fitted_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('recommendations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('experiment', 'text')
    .addColumn('variant', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('item_ids', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('recommendations_user_idx').on('recommendations').columns(['user_id', 'at']).execute();
  await db.schema
    .createTable('experiment_exposures')
    .addColumn('experiment', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('variant', 'text', (c) => c.notNull())
    .addColumn('first_at', 'bigint', (c) => c.notNull())
    .addColumn('exposures', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('experiment_exposures_pk', ['experiment', 'user_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['experiment_exposures', 'recommendations', 'kt_params', 'learner_states', 'progress_events', 'catalogs']) await db.schema.dropTable(t).execute();
}
