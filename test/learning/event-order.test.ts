import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LearningRepository } from '../../src/features/learning-path/learning.repository.js';
import { openStore, type Store } from '../../src/platform/db/database.js';
import { migrateUp } from '../../src/platform/db/migrator.js';
import { PG_ADMIN_URL, pgAdminQuery, seedUsers } from '../helpers/databases.js';

// A Postgres created with a locale's collation (here ICU en-US, where "a" < "B" < "c"), not
// the C collation of the test databases: attempts of one time must still come in the order
// a replay applies them (binary: "B" < "a" < "c"), or a fold changes the learner's mastery.
describe('progress events of one time on a Postgres with a locale collation', () => {
  const name = `tg_test_icu_${randomBytes(4).toString('hex')}`;
  let store: Store;

  beforeAll(async () => {
    await pgAdminQuery(`create database ${name} template template0 locale_provider icu icu_locale 'en-US' locale 'C.UTF-8'`);
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${name}`;
    store = openStore(url.toString(), { poolSize: 2 });
    await migrateUp(store.db);
    await seedUsers(store.db, 'u', 'a', 'b', 'B');
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await pgAdminQuery(`drop database if exists ${name} with (force)`);
  });

  it('are read for folding and replay in binary order of their ids', async () => {
    const repo = new LearningRepository(store.db);
    await repo.insertEvents(['c', 'a', 'B'].map((id) => ({ user_id: 'u', event_id: id, item_id: 'i', correct: 1, at: 1_000, received_at: 2_000 })));
    expect((await repo.eventsFor('u')).map((e) => e.event_id)).toEqual(['B', 'a', 'c']);
    expect((await repo.eventsBefore('u', 5_000, 2)).map((e) => e.event_id)).toEqual(['B', 'a']);
  });

  // kt-fit reads every stored attempt, learner by learner, each as a replay applies them: it
  // used to order attempts of one time by id in the database's collation ("A", "b", "C" here,
  // SQLite "A", "C", "b") and before their arrival, so the same events fitted other sequences
  // than mastery replays, and other ones on Postgres than on SQLite.
  it('are read for fitting learner by learner, each learner in replay order', async () => {
    const repo = new LearningRepository(store.db);
    const ev = (user_id: string, event_id: string, at: number, received_at: number) => ({ user_id, event_id, item_id: 'i', correct: 1, at, received_at });
    await repo.insertEvents([ev('b', 'x', 10, 1), ev('B', 'y', 10, 1), ev('a', 'z', 10, 1)]);
    await repo.insertEvents([ev('a', 'A', 20, 9), ev('a', 'b', 20, 8), ev('a', 'C', 20, 8)]);
    await repo.insertEvents([ev('a', 'D', 20, 8)]);
    const all = await repo.allEvents();
    const learners = all.map((e) => e.user_id).filter((u, i, a) => u !== a[i - 1]);
    expect(new Set(learners).size).toBe(learners.length); // each learner's attempts together
    expect(all.filter((e) => e.user_id === 'a').map((e) => e.event_id)).toEqual(['z', 'C', 'D', 'b', 'A']);
  });
});
