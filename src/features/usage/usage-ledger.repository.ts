import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { UsageLedgerTable } from '../../platform/db/schema.js';

export type LedgerRow = UsageLedgerTable;

export class UsageLedgerRepository {
  constructor(private readonly db: Db) {}

  static async insertIn(trx: Db, row: LedgerRow): Promise<boolean> {
    const res = await trx.insertInto('usage_ledger').values(row).onConflict((oc) => oc.doNothing()).executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  // Settles a pending row once; false when it was already settled (a retried settle
  // must not count twice).
  static async settleIn(trx: Db, id: string, patch: Partial<LedgerRow>): Promise<boolean> {
    const res = await trx.updateTable('usage_ledger').set({ ...patch, status: 'settled' }).where('id', '=', id).where('status', '=', 'pending').executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  static async rollupIn(trx: Db, r: LedgerRow): Promise<void> {
    const v = {
      day: r.day,
      user_id: r.user_id,
      feature: r.feature,
      model: r.model,
      calls: 1,
      input_tokens: r.input_tokens,
      output_tokens: r.output_tokens,
      cache_write_tokens: r.cache_write_5m_tokens + r.cache_write_1h_tokens,
      cache_read_tokens: r.cache_read_tokens,
      cost_micros: r.cost_micros,
    };
    await trx
      .insertInto('usage_daily')
      .values(v)
      .onConflict((oc) =>
        oc.columns(['day', 'user_id', 'feature', 'model']).doUpdateSet({
          calls: sql`usage_daily.calls + 1`,
          input_tokens: sql`usage_daily.input_tokens + ${v.input_tokens}`,
          output_tokens: sql`usage_daily.output_tokens + ${v.output_tokens}`,
          cache_write_tokens: sql`usage_daily.cache_write_tokens + ${v.cache_write_tokens}`,
          cache_read_tokens: sql`usage_daily.cache_read_tokens + ${v.cache_read_tokens}`,
          cost_micros: sql`usage_daily.cost_micros + ${v.cost_micros}`,
        }),
      )
      .execute();
  }

  async pendingOlderThan(ms: number): Promise<LedgerRow[]> {
    return this.db.selectFrom('usage_ledger').selectAll().where('status', '=', 'pending').where('created_at', '<', ms).execute();
  }

  async hasMessage(messageId: string): Promise<boolean> {
    return (await this.db.selectFrom('usage_ledger').select('id').where('message_id', '=', messageId).executeTakeFirst()) !== undefined;
  }

  async settledRows(filter: { userId?: string } = {}): Promise<LedgerRow[]> {
    let q = this.db.selectFrom('usage_ledger').selectAll().where('status', '=', 'settled');
    if (filter.userId) q = q.where('user_id', '=', filter.userId);
    return q.orderBy('created_at').execute();
  }
}
