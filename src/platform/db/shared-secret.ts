import { randomBytes } from 'node:crypto';
import type { Db } from './database.js';

// One random secret per name for every instance sharing the database: the first to ask
// stores one, every later ask (any instance, any restart) reads that one.
export async function sharedSecret(db: Db, name: string, now: number): Promise<string> {
  await db
    .insertInto('shared_secrets')
    .values({ name, value: randomBytes(32).toString('base64url'), created_at: now })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await db.selectFrom('shared_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
  return row.value;
}
