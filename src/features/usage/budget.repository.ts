import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import { preparedQuery } from '../../platform/db/prepared-query.js';

export interface BudgetLine {
  key: string;
  capMicros: number;
}

export class BudgetRefused extends Error {
  constructor(readonly key: string) {
    super(`budget ${key} exhausted`);
  }
}

// Budget counters live in SQL, checked and reserved in one conditional UPDATE per
// budget inside one transaction: concurrent callers on any number of instances cannot
// all pass a check made after the fact (the overspend known gateways have).
export class BudgetRepository {
  // One counter is read on every GET /v1/me, so that case is compiled once.
  private readonly readOne;

  constructor(private readonly db: Db) {
    this.readOne = preparedQuery(db, () => db.selectFrom('budget_counters').select(['key', 'spent_micros', 'reserved_micros']).where('key', '=', ''));
  }

  // Must run inside the caller's transaction (db is a Transaction); throws BudgetRefused.
  static async reserveIn(trx: Db, lines: BudgetLine[], amount: number, now: number): Promise<void> {
    // A fixed lock order (sorted keys) keeps two reservations on the same budgets from deadlocking.
    const sorted = [...lines].sort((a, b) => a.key.localeCompare(b.key));
    for (const line of sorted) {
      if (amount > line.capMicros) throw new BudgetRefused(line.key);
      // One statement: create the counter holding this reservation, or add to it only
      // while spent + reserved stays within the cap (the row lock serialises racers).
      const res = await trx
        .insertInto('budget_counters')
        .values({ key: line.key, spent_micros: 0, reserved_micros: amount, updated_at: now })
        .onConflict((oc) =>
          oc
            .column('key')
            .doUpdateSet({ reserved_micros: sql`budget_counters.reserved_micros + ${amount}`, updated_at: now })
            .where(sql<boolean>`budget_counters.spent_micros + budget_counters.reserved_micros + ${amount} <= ${line.capMicros}`),
        )
        .executeTakeFirst();
      if (Number(res.numInsertedOrUpdatedRows ?? 0) === 0) throw new BudgetRefused(line.key);
    }
  }

  static async settleIn(trx: Db, keys: string[], reserved: number, actual: number, now: number): Promise<void> {
    for (const key of [...keys].sort()) {
      await trx
        .updateTable('budget_counters')
        .set({
          reserved_micros: sql`case when reserved_micros >= ${reserved} then reserved_micros - ${reserved} else 0 end`,
          spent_micros: sql`spent_micros + ${actual}`,
          updated_at: now,
        })
        .where('key', '=', key)
        .execute();
    }
  }

  async read(keys: string[]): Promise<Map<string, { spent: number; reserved: number }>> {
    if (keys.length === 0) return new Map();
    if (keys.length === 1) {
      const rows = await this.readOne(keys[0]);
      return new Map(rows.map((r) => [r.key, { spent: Number(r.spent_micros), reserved: Number(r.reserved_micros) }]));
    }
    const rows = await this.db.selectFrom('budget_counters').select(['key', 'spent_micros', 'reserved_micros']).where('key', 'in', keys).execute();
    return new Map(rows.map((r) => [r.key, { spent: Number(r.spent_micros), reserved: Number(r.reserved_micros) }]));
  }

  // Once per key: the unique key makes a notification go out once per period even
  // with several instances settling at the same time.
  async claimNotification(key: string, now: number): Promise<boolean> {
    const res = await this.db
      .insertInto('notifications_sent')
      .values({ key, sent_at: now })
      .onConflict((oc) => oc.column('key').doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async getOverride(userId: string): Promise<{ limits: Record<string, number> | null; monthlyBudgetMicros: number | null } | undefined> {
    const r = await this.db.selectFrom('user_overrides').selectAll().where('user_id', '=', userId).executeTakeFirst();
    if (!r) return undefined;
    return {
      limits: r.limits_json ? (JSON.parse(r.limits_json) as Record<string, number>) : null,
      monthlyBudgetMicros: r.monthly_budget_micros === null ? null : Number(r.monthly_budget_micros),
    };
  }

  async putOverride(userId: string, patch: { limits?: Record<string, number> | null; monthlyBudgetMicros?: number | null }, now: number): Promise<void> {
    const current = await this.getOverride(userId);
    const row = {
      user_id: userId,
      limits_json: patch.limits !== undefined ? (patch.limits ? JSON.stringify(patch.limits) : null) : current?.limits ? JSON.stringify(current.limits) : null,
      monthly_budget_micros: patch.monthlyBudgetMicros !== undefined ? patch.monthlyBudgetMicros : (current?.monthlyBudgetMicros ?? null),
      updated_at: now,
    };
    await this.db.insertInto('user_overrides').values(row).onConflict((oc) => oc.column('user_id').doUpdateSet(row)).execute();
  }
}
