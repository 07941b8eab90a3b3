import { sql } from 'kysely';
import { claimOnce } from '../../platform/db/claim-once.js';
import type { Db } from '../../platform/db/database.js';
import { statement } from '../../platform/db/statement.js';
import { affectedRows, type TxBody } from '../../platform/db/transaction-runner.js';
import { budgetNoticePrefix, USER_BUDGETS } from './budget-policy.js';

export interface BudgetLine {
  key: string;
  capMicros: number;
}

// Keys that begin with `prefix`, compared exactly (not LIKE: `_` is a wildcard, and SQLite's
// LIKE ignores case).
const keyStartsWith = (prefix: string) => sql<boolean>`substr(key, 1, ${prefix.length}) = ${prefix}`;
const USER_NOTICES = budgetNoticePrefix(USER_BUDGETS);

export class BudgetRefused extends Error {
  constructor(readonly key: string) {
    super(`budget ${key} exhausted`);
  }
}

// Budget counters live in SQL, checked and reserved in one conditional UPDATE per
// budget inside one transaction: concurrent callers on any number of instances cannot
// all pass a check made after the fact (the overspend known gateways have).
export class BudgetRepository {
  // Compiled once: these run on every premium call (reserve, settle) and every GET /v1/me.
  private readonly readOne;
  private readonly overrideOf;
  private readonly reserveLine;
  private readonly settleLine;
  private readonly chargeLine;

  constructor(private readonly db: Db) {
    this.readOne = statement(db, (p) => db.selectFrom('budget_counters').select(['key', 'spent_micros', 'reserved_micros']).where('key', '=', p.key));
    // Read for every premium request whose user's remembered overrides have expired (one per
    // user and second): built and compiled once, not by Kysely on every call.
    this.overrideOf = statement(db, (p) => db.selectFrom('user_overrides').selectAll().where('user_id', '=', p.userId));
    // One statement: create the counter holding this reservation, or add to it only
    // while spent + reserved stays within the cap (the row lock serialises racers).
    this.reserveLine = statement(db, (p) =>
      db
        .insertInto('budget_counters')
        .values({ key: p.key, spent_micros: 0, reserved_micros: p.amount, updated_at: p.now })
        .onConflict((oc) =>
          oc
            .column('key')
            .doUpdateSet({ reserved_micros: sql`budget_counters.reserved_micros + ${p.amount}`, updated_at: p.now })
            .where(sql<boolean>`budget_counters.spent_micros + budget_counters.reserved_micros + ${p.amount} <= ${p.cap}`),
        ),
    );
    // RETURNING gives the spend right after this settle, for the threshold alerts,
    // without another read.
    this.settleLine = statement(db, (p) =>
      db
        .updateTable('budget_counters')
        .set({
          reserved_micros: sql`case when reserved_micros >= ${p.reserved} then reserved_micros - ${p.reserved} else 0 end`,
          spent_micros: sql`spent_micros + ${p.actual}`,
          updated_at: p.now,
        })
        .where('key', '=', p.key)
        .returning(['key', 'spent_micros']),
    );
    this.chargeLine = statement(db, (p) =>
      db
        .insertInto('budget_counters')
        .values({ key: p.key, spent_micros: p.amount, reserved_micros: 0, updated_at: p.now })
        .onConflict((oc) => oc.column('key').doUpdateSet({ spent_micros: sql`budget_counters.spent_micros + ${p.amount}`, updated_at: p.now }))
        .returning(['key', 'spent_micros']),
    );
  }

  // Part of the caller's transaction body (yield*). Throws BudgetRefused, which rolls
  // back the whole transaction, lines reserved before the refused one included.
  *reserveIn(lines: BudgetLine[], amount: number, now: number): TxBody<void> {
    // A fixed lock order (sorted keys) keeps two reservations on the same budgets from deadlocking.
    const sorted = [...lines].sort((a, b) => a.key.localeCompare(b.key));
    for (const line of sorted) {
      if (amount > line.capMicros) throw new BudgetRefused(line.key);
      const res = yield this.reserveLine.bind({ key: line.key, amount, cap: line.capMicros, now });
      if (affectedRows(res) === 0) throw new BudgetRefused(line.key);
    }
  }

  // Part of the caller's transaction body (yield*): moves a reservation to spent.
  // Returns the spend of each counter right after, by key (a key without a counter is absent).
  *settleIn(keys: string[], reserved: number, actual: number, now: number): TxBody<Map<string, number>> {
    const spent = new Map<string, number>();
    for (const key of [...keys].sort()) {
      const res = yield this.settleLine.bind({ key, reserved, actual, now });
      for (const row of res.rows as { key: string; spent_micros: number }[]) spent.set(row.key, Number(row.spent_micros));
    }
    return spent;
  }

  // Part of the caller's transaction body (yield*): adds spend that had no reservation (batch
  // results: the upstream has billed them already, so nothing is refused), creating the
  // counter of a period that has none yet. Returns the spend of each counter right after.
  *chargeIn(keys: string[], amount: number, now: number): TxBody<Map<string, number>> {
    const spent = new Map<string, number>();
    for (const key of [...keys].sort()) {
      const res = yield this.chargeLine.bind({ key, amount, now });
      for (const row of res.rows as { key: string; spent_micros: number }[]) spent.set(row.key, Number(row.spent_micros));
    }
    return spent;
  }

  async read(keys: string[]): Promise<Map<string, { spent: number; reserved: number }>> {
    if (keys.length === 0) return new Map();
    if (keys.length === 1) {
      const { rows } = await this.db.executeQuery(this.readOne.bind({ key: keys[0] }));
      return new Map(rows.map((r) => [r.key, { spent: Number(r.spent_micros), reserved: Number(r.reserved_micros) }]));
    }
    const rows = await this.db.selectFrom('budget_counters').select(['key', 'spent_micros', 'reserved_micros']).where('key', 'in', keys).execute();
    return new Map(rows.map((r) => [r.key, { spent: Number(r.spent_micros), reserved: Number(r.reserved_micros) }]));
  }

  // Once per key: the unique key makes a notification go out once per period even
  // with several instances settling at the same time.
  claimNotification(key: string, now: number): Promise<boolean> {
    return claimOnce(this.db, key, now);
  }

  /** Which of these notification keys were claimed (their notice sent). */
  async claimed(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = await this.db.selectFrom('notifications_sent').select('key').where('key', 'in', keys).execute();
    return new Set(rows.map((r) => r.key));
  }

  // Retention (ADR 0017, `userBudgets`): the counters of users' monthly budgets and their
  // notices name the raw user id. A counter goes once its last write (reservation or settle)
  // is older than `before` and it holds no reservation (a pending call still settles into
  // it); a notice once it was sent before `before`. The policy's floor (63 days) keeps the
  // current and the previous month's. At most `limit` rows per call, counters first, in no
  // particular order. Neither time column has an index (one would be written by every
  // reservation and settle, the premium hot path), so finding the rows scans the table. The
  // scan is a read before the delete, so the write lock (SQLite: another process, such as
  // `tutorgate retention run` beside the service, waits on it) is held only for deletes by
  // key; on the serving connection the scan still blocks the loop while it runs (200,000
  // counters: 24-128 ms on the shared cores, once a run; docs/benchmarks.md). The delete
  // checks the conditions again: a counter written in between stays.
  async deleteUserBudgetsBefore(before: number, limit: number): Promise<number> {
    const db = this.db;
    const counterKeys = (await this.userCounters(before).select('key').limit(limit).execute()).map((r) => r.key);
    let n = 0;
    if (counterKeys.length > 0) {
      const res = await db.deleteFrom('budget_counters').where('key', 'in', counterKeys).where('updated_at', '<', before).where('reserved_micros', '=', 0).executeTakeFirst();
      n += Number(res.numDeletedRows);
    }
    if (counterKeys.length >= limit) return n;
    const noticeKeys = (await this.userNotices(before).select('key').limit(limit - counterKeys.length).execute()).map((r) => r.key);
    if (noticeKeys.length > 0) {
      const res = await db.deleteFrom('notifications_sent').where('key', 'in', noticeKeys).where('sent_at', '<', before).executeTakeFirst();
      n += Number(res.numDeletedRows);
    }
    return n;
  }

  async countUserBudgetsBefore(before: number): Promise<number> {
    const [c, n] = await Promise.all([
      this.userCounters(before).select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow(),
      this.userNotices(before).select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return Number(c.n) + Number(n.n);
  }

  private userCounters(before: number) {
    return this.db.selectFrom('budget_counters').where(keyStartsWith(USER_BUDGETS)).where('updated_at', '<', before).where('reserved_micros', '=', 0);
  }

  private userNotices(before: number) {
    return this.db.selectFrom('notifications_sent').where(keyStartsWith(USER_NOTICES)).where('sent_at', '<', before);
  }

  async getOverride(userId: string): Promise<{ limits: Record<string, number> | null; monthlyBudgetMicros: number | null } | undefined> {
    const r = (await this.db.executeQuery(this.overrideOf.bind({ userId }))).rows[0];
    if (!r) return undefined;
    return {
      limits: r.limits_json ? (JSON.parse(r.limits_json) as Record<string, number>) : null,
      monthlyBudgetMicros: r.monthly_budget_micros === null ? null : Number(r.monthly_budget_micros),
    };
  }

  // One statement that sets only the columns the change names: a read of the row and a
  // write of it whole would put back a column as it was read, losing a change made to it
  // in between (PUT …/limits and PUT …/budget at once, on one instance or two).
  async putOverride(userId: string, patch: { limits?: Record<string, number> | null; monthlyBudgetMicros?: number | null }, now: number): Promise<void> {
    const set = {
      ...(patch.limits !== undefined ? { limits_json: patch.limits ? JSON.stringify(patch.limits) : null } : {}),
      ...(patch.monthlyBudgetMicros !== undefined ? { monthly_budget_micros: patch.monthlyBudgetMicros } : {}),
      updated_at: now,
    };
    await this.db
      .insertInto('user_overrides')
      .values({ user_id: userId, limits_json: null, monthly_budget_micros: null, ...set })
      .onConflict((oc) => oc.column('user_id').doUpdateSet(set))
      .execute();
  }
}
