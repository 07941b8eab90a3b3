import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/platform/db/database.js';
import { migrateUp } from '../../src/platform/db/migrator.js';
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

// Under load SQLite commits the transactions submitted in one turn of the event loop
// together (`grouping` says when: here, switched by the test). A second connection on
// the same file sees what is committed, and only that.
describe('Store.transact on sqlite: group commit', () => {
  let dir: string;
  let store: Store;
  let observer: SQLite.Database;
  let insert: ReturnType<typeof statement>;
  let grouping = true;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tg-group-'));
    store = openStore(`sqlite:${join(dir, 'g.db')}`, { groupCommit: () => grouping });
    await migrateUp(store.db);
    observer = new SQLite(join(dir, 'g.db'), { readonly: true });
    insert = statement(store.db, (p, db) => db.insertInto('notifications_sent').values({ key: p.key, sent_at: p.at }));
  });
  afterAll(async () => {
    observer.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const committed = (prefix: string) =>
    (observer.prepare('select key from notifications_sent where key like ? order by key').all(`${prefix}%`) as { key: string }[]).map((r) => r.key);

  it('runs bodies submitted together in one transaction and answers each after its commit', async () => {
    const seenBySecond: string[][] = [];
    const first = store.transact(function* () {
      yield insert.bind({ key: 'g:1', at: 1 });
      return 'first';
    });
    const second = store.transact(function* () {
      yield insert.bind({ key: 'g:2', at: 1 });
      seenBySecond.push(committed('g:')); // the first body's row: written, not yet committed
      return 'second';
    });
    const committedWhenFirstAnswered = first.then(() => committed('g:'));
    expect(await Promise.all([first, second])).toEqual(['first', 'second']);
    expect(seenBySecond).toEqual([[]]);
    expect(await committedWhenFirstAnswered).toEqual(['g:1', 'g:2']);
  });

  it('rolls back only the body that throws; the others in its group commit', async () => {
    const ok1 = store.transact(function* () {
      yield insert.bind({ key: 'p:1', at: 1 });
    });
    const refused = store.transact(function* () {
      yield insert.bind({ key: 'p:2', at: 1 });
      throw new Error('budget refused');
    });
    const ok3 = store.transact(function* () {
      yield insert.bind({ key: 'p:3', at: 1 });
    });
    const outcomes = await Promise.allSettled([ok1, refused, ok3]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ message: 'budget refused' });
    expect(committed('p:')).toEqual(['p:1', 'p:3']);
  });

  // A deferred foreign key is checked at COMMIT: the group's commit fails as a whole.
  // Each body then runs alone, so only the offending one fails.
  it('runs each body alone when the group cannot commit, so one body cannot fail another', async () => {
    await store.db.executeQuery(CompiledQuery.raw('create table gc_parent (id text primary key)'));
    await store.db.executeQuery(CompiledQuery.raw('create table gc_child (id text primary key, parent text references gc_parent(id) deferrable initially deferred)'));
    let runs = 0;
    const good = store.transact(function* () {
      runs++;
      yield insert.bind({ key: 'd:good', at: 1 });
      return 'kept';
    });
    const orphan = store.transact(function* () {
      yield CompiledQuery.raw("insert into gc_child (id, parent) values ('c1', 'missing')");
    });
    const [g, o] = await Promise.allSettled([good, orphan]);
    expect(g).toEqual({ status: 'fulfilled', value: 'kept' });
    expect(runs).toBe(2); // once in the failed group, once alone
    expect(o.status).toBe('rejected');
    expect(String((o as PromiseRejectedResult).reason)).toMatch(/FOREIGN KEY/);
    expect(committed('d:')).toEqual(['d:good']);
    expect(observer.prepare('select count(*) as n from gc_child').get()).toEqual({ n: 0 });
  });

  it('commits a body submitted on its own without waiting for company', async () => {
    await store.transact(function* () {
      yield insert.bind({ key: 's:1', at: 1 });
    });
    expect(committed('s:')).toEqual(['s:1']);
  });

  it('groups at most 16 bodies into one commit', async () => {
    const seen: number[] = [];
    const bodies = Array.from({ length: 20 }, (_, i) =>
      store.transact(function* () {
        yield insert.bind({ key: `m:${String(i).padStart(2, '0')}`, at: 1 });
        seen.push(committed('m:').length); // rows of earlier groups only
      }),
    );
    await Promise.all(bodies);
    expect(seen).toEqual([...Array<number>(16).fill(0), ...Array<number>(4).fill(16)]);
  });

  // The default policy groups only when turns bring company; `perTurn` is what it sees.
  it('tells the policy how many bodies the recent turns of the event loop brought', async () => {
    const seen: number[] = [];
    const crowdStore = openStore(`sqlite:${join(dir, 'crowd.db')}`, {
      groupCommit: (perTurn) => {
        seen.push(perTurn);
        return perTurn >= 2.5;
      },
    });
    await migrateUp(crowdStore.db);
    const ins = statement(crowdStore.db, (p, db) => db.insertInto('notifications_sent').values({ key: p.key, sent_at: p.at }));
    const body = (key: string) =>
      function* () {
        yield ins.bind({ key, at: 1 });
      };
    try {
      const nextTurn = () => new Promise((r) => setImmediate(r));
      for (let i = 0; i < 5; i++) {
        await crowdStore.transact(body(`alone:${i}`)); // one per turn
        await nextTurn();
      }
      const alone = seen.at(-1)!;
      for (let turn = 0; turn < 8; turn++) {
        await Promise.all([0, 1, 2, 3].map((j) => crowdStore.transact(body(`crowd:${turn}:${j}`))));
        await nextTurn();
      }
      expect(alone).toBeLessThan(1.1);
      expect(seen.at(-1)!).toBeGreaterThan(2.5);
    } finally {
      await crowdStore.close();
    }
  });

  it('commits each body at once while the event loop has headroom', async () => {
    grouping = false;
    try {
      const seenBySecond: string[][] = [];
      const first = store.transact(function* () {
        yield insert.bind({ key: 'h:1', at: 1 });
      });
      const second = store.transact(function* () {
        yield insert.bind({ key: 'h:2', at: 1 });
        seenBySecond.push(committed('h:'));
      });
      await Promise.all([first, second]);
      expect(seenBySecond).toEqual([['h:1']]);
    } finally {
      grouping = true;
    }
  });
});
