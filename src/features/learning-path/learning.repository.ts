import { PostgresAdapter, sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import type { ProgressEventsTable } from '../../platform/db/schema.js';
import { whileUserStands } from '../../platform/db/while-user-stands.js';

export type ProgressEventRow = ProgressEventsTable;

// Every column of a progress event, in the order whileUserStands selects a row's values.
const PROGRESS_EVENT_COLUMNS = ['user_id', 'event_id', 'item_id', 'correct', 'at', 'received_at'] as const satisfies readonly (keyof ProgressEventRow)[];

// What a replay starts from: the knowledge state of the events the retention job has
// deleted (json null: none deleted, the empty state), how many, and the newest one's time.
export interface LearnerBase {
  json: string | null;
  events: number;
  lastEventAt: number;
}
export const EMPTY_BASE: LearnerBase = Object.freeze({ json: null, events: 0, lastEventAt: 0 });

// Thrown inside a fold's transaction to roll it back: another writer changed what it read.
class FoldLost extends Error {}

export interface StoredLearnerState {
  json: string;
  lastEventAt: number;
  events: number;
  base: LearnerBase;
}

export class LearningRepository {
  constructor(private readonly db: Db) {}

  async activeCatalogJson(): Promise<{ version: string; json: string } | undefined> {
    const r = await this.db.selectFrom('catalogs').select(['version', 'catalog_json']).where('active', '=', 1).executeTakeFirst();
    return r && { version: r.version, json: r.catalog_json };
  }

  async activeCatalogVersion(): Promise<string | undefined> {
    return (await this.db.selectFrom('catalogs').select('version').where('active', '=', 1).executeTakeFirst())?.version;
  }

  // Versions are immutable: importing an existing version with other content is refused by the caller.
  // One import at a time on Postgres: under READ COMMITTED an import's "deactivate the active
  // one" does not see a catalog that a racing import has activated and not yet committed, so
  // both would stay active (SQLite runs one write transaction at a time anyway). The lock
  // lets plain reads of the catalog through.
  async putCatalog(version: string, json: string, now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      if (this.onPostgres()) await sql`lock table catalogs in exclusive mode`.execute(trx);
      await trx.insertInto('catalogs').values({ version, catalog_json: json, active: 0, created_at: now }).onConflict((oc) => oc.column('version').doNothing()).execute();
      await trx.updateTable('catalogs').set({ active: 0 }).where('active', '=', 1).execute();
      await trx.updateTable('catalogs').set({ active: 1 }).where('version', '=', version).execute();
    });
  }

  // Every stored catalog version, oldest first: what an item since removed exercised.
  async catalogsJson(): Promise<string[]> {
    return (await this.db.selectFrom('catalogs').select('catalog_json').orderBy('created_at').orderBy('version').execute()).map((r) => r.catalog_json);
  }

  async catalogJson(version: string): Promise<string | undefined> {
    return (await this.db.selectFrom('catalogs').select('catalog_json').where('version', '=', version).executeTakeFirst())?.catalog_json;
  }

  // Idempotent by the client's event id: returns the events that were new, or undefined when
  // the learner's row is gone (erased after the request authenticated): nothing is written
  // under the id (while-user-stands.ts). All rows are one learner's. The user is looked up
  // only when a row was not new (a resend), to tell a duplicate from an erased learner.
  async insertEvents(rows: ProgressEventRow[]): Promise<ProgressEventRow[] | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const fresh: ProgressEventRow[] = [];
      for (const r of rows) {
        const res = await trx
          .insertInto('progress_events')
          .columns(PROGRESS_EVENT_COLUMNS)
          .expression(whileUserStands(trx, Object.fromEntries(PROGRESS_EVENT_COLUMNS.map((c) => [c, r[c]])), r.user_id) as never)
          .onConflict((oc) => oc.columns(['user_id', 'event_id']).doNothing())
          .executeTakeFirst();
        if (Number(res.numInsertedOrUpdatedRows ?? 0) > 0) fresh.push(r);
      }
      if (fresh.length < rows.length && !(await trx.selectFrom('users').select('id').where('id', '=', rows[0]!.user_id).executeTakeFirst())) return undefined;
      return fresh;
    });
  }

  async eventsFor(userId: string, since?: number): Promise<ProgressEventRow[]> {
    let q = this.db.selectFrom('progress_events').selectAll().where('user_id', '=', userId);
    if (since !== undefined) q = q.where('at', '>=', since);
    return q.orderBy('at').orderBy('received_at').orderBy(this.byEventId()).execute();
  }

  // Event ids in binary order, as a replay compares attempts of one time (learner-model.ts;
  // the two differ only for characters beyond U+FFFF): a Postgres whose default collation is
  // a locale's (en-US puts "a" before "B") would fold them in another order, or cut a fold's
  // batch at another place, than a replay applies them.
  private byEventId() {
    return this.onPostgres() ? sql<string>`event_id collate "C"` : sql<string>`event_id`;
  }

  private onPostgres(): boolean {
    return this.db.getExecutor().adapter instanceof PostgresAdapter;
  }

  async getState(userId: string): Promise<StoredLearnerState | undefined> {
    const r = await this.db.selectFrom('learner_states').selectAll().where('user_id', '=', userId).executeTakeFirst();
    return r && { json: r.state_json, lastEventAt: Number(r.last_event_at), events: Number(r.events), base: { json: r.base_json, events: Number(r.base_events), lastEventAt: Number(r.base_last_at) } };
  }

  // The learner's baseline alone (what the retention job folded): a replay reads it before
  // and after the events, and retries if a fold committed in between (learner-model.ts).
  async getBase(userId: string): Promise<LearnerBase> {
    const r = await this.db.selectFrom('learner_states').select(['base_json', 'base_events', 'base_last_at']).where('user_id', '=', userId).executeTakeFirst();
    return r ? { json: r.base_json, events: Number(r.base_events), lastEventAt: Number(r.base_last_at) } : EMPTY_BASE;
  }

  // Compare-and-set on the number of events applied: with `expectedEvents` the state is
  // written only over the one it was computed from (an incremental update); without, only
  // over a state of no more events (a rebuild from every stored event, which a concurrent
  // rebuild that saw more must not lose). False: another writer won, nothing was written.
  // Only while the learner's row stands (while-user-stands.ts): a state computed by a
  // request that an erasure overtook is not written back under the id (false, as a lost
  // compare-and-set: the caller re-reads, finds nothing, and writes nothing again).
  async putState(userId: string, json: string, lastEventAt: number, events: number, now: number, expectedEvents?: number): Promise<boolean> {
    const row = { user_id: userId, state_json: json, last_event_at: lastEventAt, events, updated_at: now };
    const res = await this.db
      .insertInto('learner_states')
      .columns(Object.keys(row) as (keyof typeof row)[])
      .expression(whileUserStands(this.db, row, userId) as never)
      .onConflict((oc) => {
        const upd = oc.column('user_id').doUpdateSet(row);
        return expectedEvents === undefined ? upd.where('learner_states.events', '<=', events) : upd.where('learner_states.events', '=', expectedEvents);
      })
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  // Retention: learners with an event older than `before`, oldest first, through the
  // (at) index; at most `limit` events are looked at, so one batch reads a bounded range.
  async learnersWithEventsBefore(before: number, limit: number): Promise<string[]> {
    const rows = await this.db.selectFrom('progress_events').select('user_id').where('at', '<', before).orderBy('at').limit(limit).execute();
    return [...new Set(rows.map((r) => r.user_id))];
  }

  async countEventsBefore(before: number): Promise<number> {
    const r = await this.db.selectFrom('progress_events').select((eb) => eb.fn.countAll<number | string>().as('n')).where('at', '<', before).executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  // One learner's oldest events before `before`, in the order a replay applies them.
  async eventsBefore(userId: string, before: number, limit: number): Promise<ProgressEventRow[]> {
    return this.db.selectFrom('progress_events').selectAll().where('user_id', '=', userId).where('at', '<', before).orderBy('at').orderBy('received_at').orderBy(this.byEventId()).limit(limit).execute();
  }

  // Retention, in one transaction: the learner's baseline becomes `next` (the old one with
  // `eventIds` folded in) and those events are deleted. Compare-and-set on the baseline's
  // event count, so two instances folding the same events at once cannot both count
  // them: false, and nothing changed, when another fold got there first. A learner with
  // events but no state yet (a crash between storing and applying) gets the baseline as
  // state too; the next attempt then replays from it.
  //
  // The events are deleted first, and the fold only stands if every one of them was still
  // there: an erasure of the learner (or anything else that removed them) committing after
  // they were read would otherwise have the fold write a new state row, holding what the
  // deleted events taught, for a learner who no longer exists. Deleting first also takes
  // the locks in the erasure's order (events, then the state), so the two cannot deadlock.
  async foldEvents(userId: string, previousBaseEvents: number, next: LearnerBase, eventIds: string[], now: number): Promise<boolean> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const deleted = await trx.deleteFrom('progress_events').where('user_id', '=', userId).where('event_id', 'in', eventIds).executeTakeFirst();
        if (Number(deleted.numDeletedRows) !== eventIds.length) throw new FoldLost();
        const set = { base_json: next.json, base_events: next.events, base_last_at: next.lastEventAt };
        const updated = await trx.updateTable('learner_states').set(set).where('user_id', '=', userId).where('base_events', '=', previousBaseEvents).executeTakeFirst();
        if (Number(updated.numUpdatedRows) > 0) return true;
        if (previousBaseEvents !== 0 || !next.json) throw new FoldLost();
        const inserted = await trx
          .insertInto('learner_states')
          .values({ user_id: userId, state_json: next.json, last_event_at: next.lastEventAt, events: next.events, updated_at: now, ...set })
          .onConflict((oc) => oc.column('user_id').doNothing())
          .executeTakeFirst();
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) throw new FoldLost();
        return true;
      });
    } catch (err) {
      if (err instanceof FoldLost) return false; // rolled back: the events are where they were
      throw err;
    }
  }

  async deleteRecommendationsBefore(before: number, limit: number): Promise<number> {
    const res = await this.db
      .deleteFrom('recommendations')
      .where('id', 'in', (eb) => eb.selectFrom('recommendations').select('id').where('at', '<', before).orderBy('at').limit(limit))
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  async countRecommendationsBefore(before: number): Promise<number> {
    const r = await this.db.selectFrom('recommendations').select((eb) => eb.fn.countAll<number | string>().as('n')).where('at', '<', before).executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async countEvents(userId: string): Promise<number> {
    const r = await this.db.selectFrom('progress_events').select((eb) => eb.fn.countAll<number | string>().as('n')).where('user_id', '=', userId).executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async ktParamsJson(): Promise<string | undefined> {
    return (await this.db.selectFrom('kt_params').select('params_json').where('id', '=', 'current').executeTakeFirst())?.params_json;
  }

  // When the stored params were fitted (undefined: none stored, the shipped prior applies).
  async ktParamsFittedAt(): Promise<number | undefined> {
    const r = await this.db.selectFrom('kt_params').select('fitted_at').where('id', '=', 'current').executeTakeFirst();
    return r ? Number(r.fitted_at) : undefined;
  }

  async putKtParams(json: string, now: number): Promise<void> {
    const row = { id: 'current', params_json: json, fitted_at: now };
    await this.db.insertInto('kt_params').values(row).onConflict((oc) => oc.column('id').doUpdateSet(row)).execute();
  }

  // Every stored attempt for kt-fit: learner by learner, each learner's in the order a replay
  // applies them (eventsFor). Learners in the database's own order: through the (user_id, at)
  // index Postgres only sorts attempts of one time, where a binary order of learners would
  // sort the whole table (a million attempts then pass the 10 s query timeout). Their order
  // only arranges the fitted parameters; the order within a learner is what the fit learns.
  async allEvents(): Promise<ProgressEventRow[]> {
    return this.db.selectFrom('progress_events').selectAll().orderBy('user_id').orderBy('at').orderBy('received_at').orderBy(this.byEventId()).execute();
  }

  // Both only while the learner's row stands (while-user-stands.ts); false: the learner was
  // erased after the request authenticated, and nothing was written.
  async insertRecommendation(r: { id: string; userId: string; experiment: string | null; variant: string | null; source: string; itemIds: string[]; at: number }): Promise<boolean> {
    const row = { id: r.id, user_id: r.userId, experiment: r.experiment, variant: r.variant, source: r.source, item_ids: JSON.stringify(r.itemIds), at: r.at };
    const res = await this.db
      .insertInto('recommendations')
      .columns(Object.keys(row) as (keyof typeof row)[])
      .expression(whileUserStands(this.db, row, r.userId) as never)
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async recordExposure(experiment: string, userId: string, variant: string, at: number): Promise<boolean> {
    const row = { experiment, user_id: userId, variant, first_at: at, exposures: 1 };
    const res = await this.db
      .insertInto('experiment_exposures')
      .columns(Object.keys(row) as (keyof typeof row)[])
      .expression(whileUserStands(this.db, row, userId) as never)
      .onConflict((oc) => oc.columns(['experiment', 'user_id']).doUpdateSet({ exposures: sql`experiment_exposures.exposures + 1` }))
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async exposures(experiment: string): Promise<{ userId: string; variant: string; firstAt: number }[]> {
    const rows = await this.db.selectFrom('experiment_exposures').selectAll().where('experiment', '=', experiment).execute();
    return rows.map((r) => ({ userId: r.user_id, variant: r.variant, firstAt: Number(r.first_at) }));
  }

  async recommendationsFor(experiment: string, since: number): Promise<{ userId: string; variant: string | null; itemIds: string[]; at: number }[]> {
    const rows = await this.db.selectFrom('recommendations').select(['user_id', 'variant', 'item_ids', 'at']).where('experiment', '=', experiment).where('at', '>=', since).execute();
    return rows.map((r) => ({ userId: r.user_id, variant: r.variant, itemIds: JSON.parse(r.item_ids) as string[], at: Number(r.at) }));
  }

  // The progress of the experiment's exposed learners only, found through the (user_id, at)
  // index: every learner's events of the window would be read and thrown away otherwise.
  async exposedEventsSince(experiment: string, since: number): Promise<ProgressEventRow[]> {
    return this.db
      .selectFrom('progress_events')
      .selectAll()
      .where('user_id', 'in', (eb) => eb.selectFrom('experiment_exposures').select('user_id').where('experiment', '=', experiment))
      .where('at', '>=', since)
      .execute();
  }
}
