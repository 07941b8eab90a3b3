import type { Db } from '../../platform/db/database.js';
import { ConflictError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { FlagAuditEntry, FlagDefinition } from './flag.types.js';

// Writers racing on one flag each get their turn; beyond this many, the caller retries.
const MAX_ATTEMPTS = 5;

export class FlagsRepository {
  constructor(private readonly db: Db) {}

  async list(): Promise<FlagDefinition[]> {
    const rows = await this.db.selectFrom('flags').select(['definition_json']).orderBy('key').execute();
    return rows.map((r) => JSON.parse(r.definition_json) as FlagDefinition);
  }

  // Read, change and write in one go, with the audit entry in the same transaction: no
  // change without a record of who made it, and the record's `before` is what was stored.
  // The write only lands on the version it read (on SQLite a transaction holds the one
  // connection; on Postgres another instance may write in between), else it is redone on
  // the newer flag. `fallback` is the flag before any runtime change (the policy file's).
  async update(key: string, change: (before: FlagDefinition | null) => FlagDefinition, actor: string, now: number, fallback: FlagDefinition | null): Promise<FlagDefinition> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const stored = await this.db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('flags').select(['definition_json', 'version']).where('key', '=', key).executeTakeFirst();
        const before = row ? (JSON.parse(row.definition_json) as FlagDefinition) : fallback;
        const version = Number(row?.version ?? 0) + 1;
        const next: FlagDefinition = { ...change(before), key, version, updatedAt: new Date(now).toISOString() };
        const values = { key, definition_json: JSON.stringify(next), version, updated_at: now, updated_by: actor };
        const res = row
          ? await trx.updateTable('flags').set(values).where('key', '=', key).where('version', '=', Number(row.version)).executeTakeFirst()
          : await trx.insertInto('flags').values(values).onConflict((oc) => oc.column('key').doNothing()).executeTakeFirst();
        const wrote = 'numUpdatedRows' in res ? res.numUpdatedRows : res.numInsertedOrUpdatedRows;
        if (Number(wrote ?? 0) === 0) return undefined; // another writer got there first
        await trx
          .insertInto('flag_audit')
          .values({ id: newId('fa'), flag_key: key, actor, at: now, before_json: before ? JSON.stringify(before) : null, after_json: JSON.stringify(next) })
          .execute();
        return next;
      });
      if (stored) return stored;
    }
    throw new ConflictError(`Flag ${key} kept changing under this update; retry it.`);
  }

  async audit(key: string, limit = 100): Promise<FlagAuditEntry[]> {
    const rows = await this.db.selectFrom('flag_audit').selectAll().where('flag_key', '=', key).orderBy('at', 'desc').limit(limit).execute();
    const entries = rows.map((r) => ({
      flagKey: r.flag_key,
      actor: r.actor,
      at: new Date(Number(r.at)).toISOString(),
      before: r.before_json ? (JSON.parse(r.before_json) as FlagDefinition) : null,
      after: JSON.parse(r.after_json) as FlagDefinition,
    }));
    // Newest first: changes within one millisecond (or from instances whose clocks
    // disagree) in the order they were made, which the version tells.
    return entries.sort((x, y) => (y.after.version ?? 0) - (x.after.version ?? 0));
  }
}
