import { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statement } from '../../src/platform/db/statement.js';
import { affectedRows, type TxBody } from '../../src/platform/db/transaction-runner.js';
import { openTestStore, STORE_KINDS, type TestStore } from '../helpers/databases.js';

describe.each(STORE_KINDS)('Store.transact on %s', (kind) => {
  let ts: TestStore;
  let insert: ReturnType<typeof makeInsert>;
  const makeInsert = (t: TestStore) =>
    statement(t.store.db, (p, db) =>
      db.insertInto('notifications_sent').values({ key: p.key, sent_at: p.at }).onConflict((oc) => oc.column('key').doNothing()),
    );
  beforeAll(async () => {
    ts = await openTestStore(kind);
    insert = makeInsert(ts);
  });
  afterAll(() => ts.cleanup());

  const keys = async (prefix: string) =>
    (await ts.store.db.selectFrom('notifications_sent').select('key').where('key', 'like', `${prefix}%`).orderBy('key').execute()).map((r) => r.key);

  it('commits a body and hands each statement its result', async () => {
    const seen = await ts.store.transact(function* (): TxBody<number[]> {
      const first = affectedRows(yield insert.bind({ key: 'c:1', at: 1 }));
      const again = affectedRows(yield insert.bind({ key: 'c:1', at: 2 })); // ON CONFLICT DO NOTHING
      const { rows } = yield CompiledQuery.raw(kind === 'sqlite' ? "select count(*) as n from notifications_sent where key like 'c:%'" : "select count(*)::int as n from notifications_sent where key like 'c:%'");
      return [first, again, Number((rows[0] as { n: number }).n)];
    });
    expect(seen).toEqual([1, 0, 1]);
    expect(await keys('c:')).toEqual(['c:1']);
  });

  it('rolls back everything when the body throws, and rethrows', async () => {
    const failing = ts.store.transact(function* () {
      yield insert.bind({ key: 'r:1', at: 1 });
      yield insert.bind({ key: 'r:2', at: 1 });
      throw new Error('refused');
    });
    await expect(failing).rejects.toThrow('refused');
    expect(await keys('r:')).toEqual([]);
  });

  it('rolls back when a statement fails, with the error thrown at its yield', async () => {
    let caught: unknown;
    const failing = ts.store.transact(function* () {
      yield insert.bind({ key: 'f:1', at: 1 });
      try {
        yield CompiledQuery.raw('insert into no_such_table values (1)');
      } catch (err) {
        caught = err;
        throw err;
      }
    });
    await expect(failing).rejects.toThrow(/no_such_table/);
    expect(caught).toBeInstanceOf(Error);
    expect(await keys('f:')).toEqual([]);
  });

  // On SQLite the runner shares Kysely's single connection. A Kysely transaction holds
  // it open across awaits; a synchronous transaction started then would run inside it
  // (as a SAVEPOINT) and be rolled back with it. It must wait its turn instead.
  it('does not interleave with a Kysely transaction open on the same connection', async () => {
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let begun!: () => void;
    const hasBegun = new Promise<void>((r) => (begun = r));
    const kyselyTx = ts.store.db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('notifications_sent').values({ key: 'i:kysely', sent_at: 1 }).execute();
        begun();
        await held;
        order.push('kysely rolls back');
        throw new Error('kysely body failed');
      })
      .catch((err: Error) => err.message);
    await hasBegun;
    const runner = ts.store.transact(function* () {
      const { rows } = yield CompiledQuery.raw("select key from notifications_sent where key like 'i:%'");
      yield insert.bind({ key: 'i:runner', at: 2 });
      order.push('runner ran');
      return rows.map((r) => (r as { key: string }).key);
    });
    await new Promise((r) => setTimeout(r, 20));
    release();
    expect(await kyselyTx).toBe('kysely body failed');
    const sawDuringRunner = await runner;
    if (kind === 'sqlite') expect(order).toEqual(['kysely rolls back', 'runner ran']);
    expect(sawDuringRunner).toEqual([]); // never saw the other transaction's uncommitted row
    expect(await keys('i:')).toEqual(['i:runner']); // and was not rolled back with it
  });
});
