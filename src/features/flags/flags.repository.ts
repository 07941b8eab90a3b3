import type { Db } from '../../platform/db/database.js';
import { newId } from '../../platform/ids.js';
import type { FlagAuditEntry, FlagDefinition } from './flag.types.js';

export class FlagsRepository {
  constructor(private readonly db: Db) {}

  async list(): Promise<FlagDefinition[]> {
    const rows = await this.db.selectFrom('flags').select(['definition_json']).orderBy('key').execute();
    return rows.map((r) => JSON.parse(r.definition_json) as FlagDefinition);
  }

  // The write and its audit entry commit together: no change without a record of who made it.
  async put(def: FlagDefinition, before: FlagDefinition | null, actor: string, now: number): Promise<FlagDefinition> {
    const stored: FlagDefinition = { ...def, version: (before?.version ?? 0) + 1, updatedAt: new Date(now).toISOString() };
    const row = { key: def.key, definition_json: JSON.stringify(stored), version: stored.version!, updated_at: now, updated_by: actor };
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('flags').values(row).onConflict((oc) => oc.column('key').doUpdateSet(row)).execute();
      await trx
        .insertInto('flag_audit')
        .values({ id: newId('fa'), flag_key: def.key, actor, at: now, before_json: before ? JSON.stringify(before) : null, after_json: JSON.stringify(stored) })
        .execute();
    });
    return stored;
  }

  async audit(key: string, limit = 100): Promise<FlagAuditEntry[]> {
    const rows = await this.db.selectFrom('flag_audit').selectAll().where('flag_key', '=', key).orderBy('at', 'desc').limit(limit).execute();
    return rows.map((r) => ({
      flagKey: r.flag_key,
      actor: r.actor,
      at: new Date(Number(r.at)).toISOString(),
      before: r.before_json ? (JSON.parse(r.before_json) as FlagDefinition) : null,
      after: JSON.parse(r.after_json) as FlagDefinition,
    }));
  }
}
