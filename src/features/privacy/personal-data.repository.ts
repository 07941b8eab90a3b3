import { PostgresAdapter, sql, type Compilable } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { DB } from '../../platform/db/schema.js';
import { affectedRows, type TxBody } from '../../platform/db/transaction-runner.js';
import { budgetNoticePrefix, userBudgetPrefix } from '../usage/budget-policy.js';

// Every row that names one person, in every table. Erasure is the one operation that
// must reach all of them at once, in one transaction, so the list lives here, where a
// reviewer can check it against the migrations in one read (ADR 0016), instead of a
// method in each feature's repository composed from afar. The test that erases a user
// then scans every text column of every table for the id is what keeps it complete.
//
// Removed: what is about the learner and serves nothing once they are gone.
// Pseudonymised (user id → `erased:<userHash>`): what other records or the books depend
// on: usage rows (totals per feature, model and day, and the global budgets, must not
// move), billing events, and the traces the person left on shared things as an
// instructor or admin (reviews of other learners' answers, rubrics, flag changes).

export const REMOVED_KINDS = [
  'user', 'apiKeys', 'dashboardSessions', 'subscription', 'overrides', 'evaluations', 'progressEvents',
  'learnerStates', 'recommendations', 'exposures', 'budgetCounters', 'budgetNotices',
] as const;
export const PSEUDONYMISED_KINDS = ['usageLedger', 'usageDaily', 'billingEvents', 'reviewsGiven', 'rubricsOwned', 'flagChanges'] as const;

export type RemovedKind = (typeof REMOVED_KINDS)[number];
export type PseudonymisedKind = (typeof PSEUDONYMISED_KINDS)[number];

export interface ErasureCounts {
  removed: Record<RemovedKind, number>;
  pseudonymised: Record<PseudonymisedKind, number>;
}

export class CallInFlight extends Error {
  constructor(readonly pending: number) {
    super(`${pending} metered call(s) in flight`);
  }
}

export class NothingHeld extends Error {}

// Keys that begin with `prefix`, compared exactly. Not LIKE: user ids hold `_` (a wildcard
// unless escaped), and SQLite's LIKE ignores ASCII case, so a pattern for `bob` would also
// reach `Bob`'s counters. Neither dialect can use the key index for such a prefix anyway
// (SQLite's LIKE only under case_sensitive_like, Postgres's only under the C collation).
const keyStartsWith = (prefix: string) => sql<boolean>`substr(key, 1, ${prefix.length}) = ${prefix}`;

// The threshold notices of the user's own budget lines (metering.service.ts).
const userNoticePrefix = (userId: string) => budgetNoticePrefix(userBudgetPrefix(userId));

export class PersonalDataRepository {
  constructor(private readonly db: Db) {}

  // The export reads (right of access). Raw rows: the service shapes them.
  async read(userId: string) {
    const db = this.db;
    const [user, subscription, apiKeys, sessions, override, evaluations, progress, state, recommendations, exposures, ledger, daily, budgets, notices, billing, rubrics] = await Promise.all([
      db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst(),
      db.selectFrom('subscriptions').selectAll().where('user_id', '=', userId).executeTakeFirst(),
      // Never the hash: it identifies the key as well as the key itself does.
      db.selectFrom('api_keys').select(['id', 'prefix', 'created_at', 'last_used_at', 'revoked_at']).where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute(),
      // Never the session id: it names a live cookie.
      db.selectFrom('admin_sessions').select(['created_at', 'expires_at', 'ended_at', 'key_id']).where('user_id', '=', userId).orderBy('created_at').execute(),
      db.selectFrom('user_overrides').selectAll().where('user_id', '=', userId).executeTakeFirst(),
      db.selectFrom('evaluations').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute(),
      db.selectFrom('progress_events').selectAll().where('user_id', '=', userId).orderBy('at').orderBy('event_id').execute(),
      db.selectFrom('learner_states').selectAll().where('user_id', '=', userId).executeTakeFirst(),
      db.selectFrom('recommendations').selectAll().where('user_id', '=', userId).orderBy('at').orderBy('id').execute(),
      db.selectFrom('experiment_exposures').selectAll().where('user_id', '=', userId).orderBy('experiment').execute(),
      db.selectFrom('usage_ledger').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute(),
      db.selectFrom('usage_daily').selectAll().where('user_id', '=', userId).orderBy('day').orderBy('feature').orderBy('model').execute(),
      db.selectFrom('budget_counters').selectAll().where(keyStartsWith(userBudgetPrefix(userId))).orderBy('key').execute(),
      // A refusal claims the exhausted notice without ever making a counter (a budget smaller
      // than one call's worst case), so a notice can be all that names the id.
      db.selectFrom('notifications_sent').selectAll().where(keyStartsWith(userNoticePrefix(userId))).orderBy('key').execute(),
      db.selectFrom('webhook_events').select(['event_id', 'type', 'occurred_at', 'received_at']).where('user_id', '=', userId).orderBy('occurred_at').execute(),
      db.selectFrom('rubrics').select(['id', 'version', 'created_at']).where('owner_id', '=', userId).orderBy('id').orderBy('version').execute(),
    ]);
    return { user, subscription, apiKeys, sessions, override, evaluations, progress, state, recommendations, exposures, ledger, daily, budgets, notices, billing, rubrics };
  }

  // Part of a transaction body (Store.transact): every statement of the erasure, so on
  // SQLite nothing else runs between them and on Postgres they commit or roll back
  // together. Throws CallInFlight (a pending usage row: its settlement would write under
  // the id after the erasure) or NothingHeld (no row names the id), both before any write.
  *eraseIn(userId: string, pseudonym: string): TxBody<ErasureCounts> {
    const db = this.db;
    const count = function* (q: Compilable<{ n: number | string | bigint }>): TxBody<number> {
      const res = yield q.compile();
      return Number((res.rows[0] as { n: number | string } | undefined)?.n ?? 0);
    };
    const run = function* (q: Compilable<unknown>): TxBody<number> {
      return affectedRows(yield q.compile());
    };

    // Serialised with the user's reservations on the user's row. On Postgres it is locked
    // FOR UPDATE before anything is read: a reservation holds a key-share lock on it from its
    // first statement (its pending row's insert, usage-ledger.repository.ts) to its commit, so
    // either it committed first and its pending row is counted below, or it waits for this
    // erasure and then finds the user gone and writes nothing. SQLite has one writer: a
    // reservation commits before this transaction begins, or checks the user after it.
    if (db.getExecutor().adapter instanceof PostgresAdapter) yield db.selectFrom('users').select('id').where('id', '=', userId).forUpdate().compile();

    const pending = yield* count(db.selectFrom('usage_ledger').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).where('status', '=', 'pending'));
    if (pending > 0) throw new CallInFlight(pending);

    // The ledger, then the roll-up, then the budget counters: the order a settlement locks
    // them in (metering.service.ts), so neither waits on the other in the opposite order.
    const usageLedger = yield* run(db.updateTable('usage_ledger').set({ user_id: pseudonym }).where('user_id', '=', userId));

    // usage_daily is keyed by (day, user_id, feature, model): a pseudonym already holding
    // a row for the same day, feature and model (the same id erased before, then seen
    // again) takes this one's figures added, so no total moves.
    const daily = (yield db.selectFrom('usage_daily').selectAll().where('user_id', '=', userId).compile()).rows as DB['usage_daily'][];
    for (const r of daily) {
      yield db
        .insertInto('usage_daily')
        .values({ ...r, user_id: pseudonym })
        .onConflict((oc) =>
          oc.columns(['day', 'user_id', 'feature', 'model']).doUpdateSet({
            calls: sql`usage_daily.calls + ${r.calls}`,
            input_tokens: sql`usage_daily.input_tokens + ${r.input_tokens}`,
            output_tokens: sql`usage_daily.output_tokens + ${r.output_tokens}`,
            cache_write_tokens: sql`usage_daily.cache_write_tokens + ${r.cache_write_tokens}`,
            cache_read_tokens: sql`usage_daily.cache_read_tokens + ${r.cache_read_tokens}`,
            cost_micros: sql`usage_daily.cost_micros + ${r.cost_micros}`,
          }),
        )
        .compile();
    }
    yield* run(db.deleteFrom('usage_daily').where('user_id', '=', userId));

    const pseudonymised: ErasureCounts['pseudonymised'] = {
      usageLedger,
      usageDaily: daily.length,
      billingEvents: yield* run(db.updateTable('webhook_events').set({ user_id: pseudonym }).where('user_id', '=', userId)),
      reviewsGiven: yield* run(db.updateTable('evaluations').set({ reviewed_by: pseudonym }).where('reviewed_by', '=', userId).where('user_id', '!=', userId)),
      rubricsOwned: yield* run(db.updateTable('rubrics').set({ owner_id: pseudonym }).where('owner_id', '=', userId)),
      flagChanges:
        (yield* run(db.updateTable('flag_audit').set({ actor: pseudonym }).where('actor', '=', userId))) +
        (yield* run(db.updateTable('flags').set({ updated_by: pseudonym }).where('updated_by', '=', userId))),
    };

    // Children before the user row: api_keys, subscriptions and admin_sessions reference it.
    const removed: ErasureCounts['removed'] = {
      apiKeys: yield* run(db.deleteFrom('api_keys').where('user_id', '=', userId)),
      dashboardSessions: yield* run(db.deleteFrom('admin_sessions').where('user_id', '=', userId)),
      subscription: yield* run(db.deleteFrom('subscriptions').where('user_id', '=', userId)),
      overrides: yield* run(db.deleteFrom('user_overrides').where('user_id', '=', userId)),
      evaluations: yield* run(db.deleteFrom('evaluations').where('user_id', '=', userId)),
      progressEvents: yield* run(db.deleteFrom('progress_events').where('user_id', '=', userId)),
      learnerStates: yield* run(db.deleteFrom('learner_states').where('user_id', '=', userId)),
      recommendations: yield* run(db.deleteFrom('recommendations').where('user_id', '=', userId)),
      exposures: yield* run(db.deleteFrom('experiment_exposures').where('user_id', '=', userId)),
      // The user's monthly budget; the feature and global counters hold their spend still.
      budgetCounters: yield* run(db.deleteFrom('budget_counters').where(keyStartsWith(userBudgetPrefix(userId)))),
      budgetNotices: yield* run(db.deleteFrom('notifications_sent').where(keyStartsWith(userNoticePrefix(userId)))),
      user: yield* run(db.deleteFrom('users').where('id', '=', userId)),
    };

    const total = Object.values(removed).reduce((a, b) => a + b, 0) + Object.values(pseudonymised).reduce((a, b) => a + b, 0);
    if (total === 0) throw new NothingHeld();
    return { removed, pseudonymised };
  }
}
