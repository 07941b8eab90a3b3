import type { Kysely } from 'kysely';
import type { DB } from '../../platform/db/schema.js';

export interface StartedSession {
  id: string;
  userId: string;
  keyId: string | null;
  createdAt: number;
  expiresAt: number;
}

// Server-side dashboard sessions: a signed cookie proves who was given it, this row
// whether it still stands.
export class AdminSessionRepository {
  constructor(private readonly db: Kysely<DB>) {}

  async start(s: StartedSession): Promise<void> {
    await this.db
      .insertInto('admin_sessions')
      .values({ id: s.id, user_id: s.userId, key_id: s.keyId, created_at: s.createdAt, expires_at: s.expiresAt, ended_at: null })
      .execute();
    // Sessions past their end are of no further use; sign-ins are rare enough to sweep here.
    await this.db.deleteFrom('admin_sessions').where('expires_at', '<', s.createdAt).execute();
  }

  /** Live: not signed out, not expired, and the API key that signed in (if any) not revoked. */
  async isLive(id: string, userId: string, now: number): Promise<boolean> {
    const row = await this.db
      .selectFrom('admin_sessions as s')
      .leftJoin('api_keys as k', 'k.id', 's.key_id')
      .select(['s.key_id', 'k.revoked_at', 'k.id as found_key'])
      .where('s.id', '=', id)
      .where('s.user_id', '=', userId)
      .where('s.ended_at', 'is', null)
      .where('s.expires_at', '>', now)
      .executeTakeFirst();
    if (!row) return false;
    return row.key_id === null || (row.found_key !== null && row.revoked_at === null);
  }

  async end(id: string, now: number): Promise<void> {
    await this.db.updateTable('admin_sessions').set({ ended_at: now }).where('id', '=', id).where('ended_at', 'is', null).execute();
  }
}
