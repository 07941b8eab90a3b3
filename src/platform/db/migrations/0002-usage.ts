import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('usage_ledger')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message_id', 'text', (c) => c.unique())
    .addColumn('request_id', 'text')
    .addColumn('reservation_id', 'text')
    .addColumn('budget_keys', 'text') // the budget counters a pending row holds a reservation on
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('feature', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('input_tokens', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('output_tokens', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('cache_write_5m_tokens', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('cache_write_1h_tokens', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('cache_read_tokens', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('cost_micros', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('reserved_micros', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('price_version', 'text', (c) => c.notNull())
    .addColumn('latency_ms', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull()) // pending | settled
    .addColumn('batch', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('day', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('settled_at', 'bigint')
    .execute();
  await db.schema.createIndex('usage_ledger_user_day_idx').on('usage_ledger').columns(['user_id', 'day']).execute();
  await db.schema.createIndex('usage_ledger_status_idx').on('usage_ledger').columns(['status', 'created_at']).execute();
  await db.schema
    .createTable('usage_daily')
    .addColumn('day', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('feature', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('calls', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('input_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('output_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('cache_write_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('cache_read_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('cost_micros', 'bigint', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('usage_daily_pk', ['day', 'user_id', 'feature', 'model'])
    .execute();
  await db.schema
    .createTable('budget_counters')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('spent_micros', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('reserved_micros', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('notifications_sent')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('sent_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('user_overrides')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('limits_json', 'text')
    .addColumn('monthly_budget_micros', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['user_overrides', 'notifications_sent', 'budget_counters', 'usage_daily', 'usage_ledger']) await db.schema.dropTable(t).execute();
}
