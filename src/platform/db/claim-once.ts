import type { Db } from './database.js';

// Once per key across every instance sharing the database: the first to insert the key
// wins, every later claim is refused. The keys live in notifications_sent, the table of
// things done once (a budget's threshold notice, a scheduled run of a period).
export async function claimOnce(db: Db, key: string, now: number): Promise<boolean> {
  const res = await db.insertInto('notifications_sent').values({ key, sent_at: now }).onConflict((oc) => oc.column('key').doNothing()).executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
}
