import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { UsageLedgerTable } from '../../platform/db/schema.js';
import { placeheldRow, statement, type Statement } from '../../platform/db/statement.js';
import { affectedRows, type TxBody } from '../../platform/db/transaction-runner.js';
import { userIdWhileStands, whileUserStands } from '../../platform/db/while-user-stands.js';

export type LedgerRow = UsageLedgerTable;

// Every column of a ledger row, checked by the compiler against the table type: the
// insert names each one, so a row is written whole.
const LEDGER_COLUMNS = {
  id: true,
  message_id: true,
  request_id: true,
  reservation_id: true,
  budget_keys: true,
  user_id: true,
  feature: true,
  model: true,
  input_tokens: true,
  output_tokens: true,
  cache_write_5m_tokens: true,
  cache_write_1h_tokens: true,
  cache_read_tokens: true,
  cost_micros: true,
  reserved_micros: true,
  price_version: true,
  latency_ms: true,
  outcome: true,
  source: true,
  status: true,
  batch: true,
  day: true,
  created_at: true,
  settled_at: true,
} satisfies Record<keyof LedgerRow, true>;

// The *In methods are parts of a transaction body (yield*), run by Store.transact; their
// statements are compiled once per repository (they run on every premium call).
export class UsageLedgerRepository {
  private readonly insert;
  private readonly insertForUser;
  private readonly insertBilled;
  private readonly rollup;
  // One statement per set of settled columns; the code has three (a call, no call, a crash).
  private readonly settles = new Map<string, Statement>();

  constructor(private readonly db: Db) {
    this.insert = statement(db, (p) => db.insertInto('usage_ledger').values(placeheldRow<LedgerRow>(p, LEDGER_COLUMNS)).onConflict((oc) => oc.doNothing()));
    // The reservation's pending row, written only while the user's row stands
    // (while-user-stands.ts): an erasure either waits for this reservation and then finds
    // it pending, or has deleted the user and this inserts nothing.
    const columns = Object.keys(LEDGER_COLUMNS) as (keyof LedgerRow)[];
    this.insertForUser = statement(db, (p) => db.insertInto('usage_ledger').columns(columns).expression(whileUserStands(db, placeheldRow<LedgerRow>(p, LEDGER_COLUMNS), p.user_id) as never));
    // A row of calls already made and billed upstream (a batch's results), to a user who may
    // have been erased since the batch was created: under the user while their row stands,
    // else under the pseudonym the erasure gave their rows (`erased_as`). The spend is kept
    // and the erased id is not written again. Locks the user's row as whileUserStands does.
    this.insertBilled = statement(db, (p) =>
      db
        .insertInto('usage_ledger')
        .values({ ...placeheldRow<LedgerRow>(p, LEDGER_COLUMNS), user_id: sql<string>`coalesce((${userIdWhileStands(db, p.user_id)}), ${p.erased_as})` })
        .onConflict((oc) => oc.doNothing()),
    );
    this.rollup = statement(db, (p) =>
      db
        .insertInto('usage_daily')
        .values({
          day: p.day,
          user_id: p.user_id,
          feature: p.feature,
          model: p.model,
          calls: 1,
          input_tokens: p.input_tokens,
          output_tokens: p.output_tokens,
          cache_write_tokens: p.cache_write_tokens,
          cache_read_tokens: p.cache_read_tokens,
          cost_micros: p.cost_micros,
        })
        .onConflict((oc) =>
          oc.columns(['day', 'user_id', 'feature', 'model']).doUpdateSet({
            calls: sql`usage_daily.calls + 1`,
            input_tokens: sql`usage_daily.input_tokens + ${p.input_tokens}`,
            output_tokens: sql`usage_daily.output_tokens + ${p.output_tokens}`,
            cache_write_tokens: sql`usage_daily.cache_write_tokens + ${p.cache_write_tokens}`,
            cache_read_tokens: sql`usage_daily.cache_read_tokens + ${p.cache_read_tokens}`,
            cost_micros: sql`usage_daily.cost_micros + ${p.cost_micros}`,
          }),
        ),
    );
  }

  // False when the row exists already (an upstream call recorded before).
  *insertIn(row: LedgerRow): TxBody<boolean> {
    return affectedRows(yield this.insert.bind(row)) > 0;
  }

  // The pending row of a reservation; false when the user's row is gone (erased after the
  // request authenticated), and then nothing was written.
  *insertForUserIn(row: LedgerRow): TxBody<boolean> {
    return affectedRows(yield this.insertForUser.bind(row)) > 0;
  }

  // A row for calls the upstream billed: under the user while they stand, else under
  // `erasedAs` (their pseudonym). False when the row exists already.
  *insertBilledIn(row: LedgerRow, erasedAs: string): TxBody<boolean> {
    return affectedRows(yield this.insertBilled.bind({ ...row, erased_as: erasedAs })) > 0;
  }

  // Settles a pending row once. Returns whom the row is booked to as it stands (the user,
  // or the pseudonym of an erased one: the roll-up and any further call of the settlement
  // go there too), or undefined when it was already settled (a retried settle must not
  // count twice). Same statement, RETURNING the owner: no second read.
  *settleIn(id: string, patch: Partial<LedgerRow>): TxBody<string | undefined> {
    // A column set to undefined is left alone, as Kysely's set() does.
    const columns = (Object.keys(patch) as (keyof LedgerRow)[]).filter((c) => c !== 'status' && patch[c] !== undefined).sort();
    const res = yield this.settleStatement(columns).bind({ ...patch, id });
    return (res.rows[0] as { user_id: string } | undefined)?.user_id;
  }

  *rollupIn(r: LedgerRow): TxBody<void> {
    yield this.rollup.bind({ ...r, cache_write_tokens: r.cache_write_5m_tokens + r.cache_write_1h_tokens });
  }

  private settleStatement(columns: (keyof LedgerRow)[]): Statement {
    const shape = columns.join(',');
    let stmt = this.settles.get(shape);
    if (!stmt) {
      stmt = statement(this.db, (p) =>
        this.db
          .updateTable('usage_ledger')
          .set({ ...Object.fromEntries(columns.map((c) => [c, p[c]])), status: 'settled' })
          .where('id', '=', p.id)
          .where('status', '=', 'pending')
          .returning('user_id'),
      );
      this.settles.set(shape, stmt);
    }
    return stmt;
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
