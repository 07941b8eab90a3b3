import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statement } from '../../src/platform/db/statement.js';
import { openTestStore, STORE_KINDS, type TestStore } from '../helpers/databases.js';

describe.each(STORE_KINDS)('compile-once statements on %s', (kind) => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await openTestStore(kind);
  });
  afterAll(() => ts.cleanup());

  const counter = async (key: string) =>
    ts.store.db.selectFrom('budget_counters').select(['spent_micros', 'reserved_micros', 'updated_at']).where('key', '=', key).executeTakeFirst();

  // Kysely emits the parameters of VALUES, then DO UPDATE SET, then its WHERE: not the
  // order the names are bound in, and `amount` and `now` appear more than once.
  const upsert = () =>
    statement(ts.store.db, (p, db) =>
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

  it('binds named values wherever Kysely put them, constants included', () => {
    const q = upsert().bind({ cap: 1000, now: 7, amount: 5, key: 'k' });
    expect(q.parameters).toEqual(['k', 0, 5, 7, 5, 7, 5, 1000]);
    expect(q.sql).toContain(kind === 'sqlite' ? '?' : '$8');
  });

  it('runs: inserts, adds under the cap, refuses over it', async () => {
    const s = upsert();
    const run = async (amount: number, now: number) => Number((await ts.store.db.executeQuery(s.bind({ key: 'b1', amount, now, cap: 100 }))).numAffectedRows);
    expect(await run(60, 1)).toBe(1);
    expect(await counter('b1')).toEqual({ spent_micros: 0, reserved_micros: 60, updated_at: 1 });
    expect(await run(30, 2)).toBe(1);
    expect(await run(30, 3)).toBe(0); // 120 > cap
    expect(await counter('b1')).toEqual({ spent_micros: 0, reserved_micros: 90, updated_at: 2 });
  });

  it('uses one name twice in one expression and returns rows with RETURNING', async () => {
    await ts.store.db.insertInto('budget_counters').values({ key: 'b2', spent_micros: 10, reserved_micros: 50, updated_at: 0 }).execute();
    const settle = statement(ts.store.db, (p, db) =>
      db
        .updateTable('budget_counters')
        .set({ reserved_micros: sql`case when reserved_micros >= ${p.reserved} then reserved_micros - ${p.reserved} else 0 end`, spent_micros: sql`spent_micros + ${p.actual}` })
        .where('key', '=', p.key)
        .returning(['key', 'spent_micros']),
    );
    const { rows } = await ts.store.db.executeQuery(settle.bind({ key: 'b2', reserved: 50, actual: 20 }));
    expect(rows.map((r) => ({ key: r.key, spent: Number(r.spent_micros) }))).toEqual([{ key: 'b2', spent: 30 }]);
    expect(await counter('b2')).toMatchObject({ spent_micros: 30, reserved_micros: 0 });
  });

  it('builds the query once, on first use', () => {
    let builds = 0;
    const s = statement(ts.store.db, (p, db) => (builds++, db.selectFrom('budget_counters').selectAll().where('key', '=', p.key)));
    expect(builds).toBe(0);
    s.bind({ key: 'a' });
    s.bind({ key: 'b' });
    expect(builds).toBe(1);
  });

  it('refuses a missing value at bind time, and a placeholder inside a value at build time', () => {
    expect(() => upsert().bind({ key: 'k', amount: 1, now: 1 })).toThrow(/no value for "cap"/);
    const concatenated = statement(ts.store.db, (p, db) => db.selectFrom('budget_counters').selectAll().where('key', '=', `user:${p.id}`));
    expect(() => concatenated.bind({ id: 'x' })).toThrow(/inside a value/);
  });
});
