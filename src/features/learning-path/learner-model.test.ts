import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore, seedUsers, STORE_KINDS, type TestStore } from '../../../test/helpers/databases.js';
import { demoCatalog } from './catalog-provider.js';
import { LearnerModel } from './learner-model.js';
import { EMPTY_BASE, LearningRepository, type ProgressEventRow } from './learning.repository.js';

// Two requests for one learner racing through apply(): whatever the interleaving, the
// state stands for every stored event exactly once. The interleavings are forced by
// calling the model's steps in the order a race would.
describe.each(STORE_KINDS)('learner state under concurrent progress posts, on %s', (kind) => {
  let ts: TestStore;
  let repo: LearningRepository;
  const catalog = demoCatalog();
  const item = catalog.items[0]!.id;
  beforeAll(async () => {
    ts = await openTestStore(kind);
    repo = new LearningRepository(ts.store.db);
  });
  afterAll(() => ts.cleanup());

  const clock = { now: () => Date.UTC(2026, 10, 29) };
  const event = (userId: string, id: string, minute: number, correct = true): ProgressEventRow => ({ user_id: userId, event_id: id, item_id: item, correct: correct ? 1 : 0, at: Date.UTC(2026, 10, 20, 10, minute), received_at: clock.now() });
  // Stored as a request would: the learner's row stands.
  const insert = async (rows: ProgressEventRow[]) => {
    await seedUsers(ts.store.db, rows[0]!.user_id);
    const fresh = await repo.insertEvents(rows);
    if (!fresh) throw new Error('the learner has no user row');
    return fresh;
  };
  const attempts = async (model: LearnerModel, userId: string) => (await model.snapshot(userId)).state.total.attempts;

  it('does not count an event twice when a replay has already taken it in', async () => {
    const model = new LearnerModel(repo, clock);
    const u = `twice-${kind}`;
    await model.apply(u, await insert([event(u, 'a', 1), event(u, 'b', 2)]), catalog);
    const c = await insert([event(u, 'c', 5)]); // request 1 stored c, and is slow to apply it
    await model.apply(u, await insert([event(u, 'd', 0)]), catalog); // request 2: d is older than b, so it replays all four
    const after = await model.apply(u, c, catalog); // request 1 catches up
    expect(after.events).toBe(4);
    expect(await attempts(model, u)).toBe(4);
  });

  it('keeps what attempts on an item since removed from the catalog taught, when it replays under the new catalog', async () => {
    const model = new LearnerModel(repo, clock);
    const u = `retired-${kind}`;
    const skill = catalog.items[0]!.skills[0]!;
    const sibling = catalog.items.find((i, n) => n > 0 && i.skills.includes(skill))!;
    const v2 = { ...catalog, version: `${catalog.version}-without-${item}`, items: catalog.items.filter((i) => i.id !== item) };
    await repo.putCatalog(catalog.version, JSON.stringify(catalog), clock.now());
    await model.apply(u, await insert([event(u, 'a', 1), event(u, 'b', 2), event(u, 'c', 3)]), catalog);
    await repo.putCatalog(v2.version, JSON.stringify(v2), clock.now()); // the author retires the item
    const kt = await model.kt();
    const before = kt.mastery((await model.snapshot(u)).state, skill);
    // an attempt synced late from a device (older than the others) replays the history under v2
    const late = await insert([{ ...event(u, 'd', 0), item_id: sibling.id }]);
    const after = await model.apply(u, late, v2);
    expect(after.state.skills.get(skill)?.attempts).toBe(4);
    expect(kt.mastery(after.state, skill)).toBeGreaterThanOrEqual(before);
  });

  it('does not lose an event to a replay that read the history before it was stored', async () => {
    const u = `lost-${kind}`;
    const plain = new LearnerModel(repo, clock);
    await plain.apply(u, await insert([event(u, 'a', 1), event(u, 'b', 2)]), catalog);
    // request 2's replay has read a, b, d and is about to write when request 1 stores and applies c
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let paused = false;
    const slow = new LearnerModel(
      {
        ...repo,
        getState: (id) => repo.getState(id),
        getBase: (id) => repo.getBase(id),
        eventsFor: (id, since) => repo.eventsFor(id, since),
        countEvents: (id) => repo.countEvents(id),
        ktParamsJson: () => repo.ktParamsJson(),
        ktParamsFittedAt: () => repo.ktParamsFittedAt(),
        catalogsJson: () => repo.catalogsJson(),
        putState: async (...a) => {
          if (!paused && a[5] === undefined) {
            paused = true;
            await held;
          }
          return repo.putState(...a);
        },
      },
      clock,
    );
    const replaying = slow.apply(u, await insert([event(u, 'd', 0)]), catalog);
    await new Promise((r) => setTimeout(r, 50)); // the replay has read its events and waits to write
    await plain.apply(u, await insert([event(u, 'c', 9)]), catalog);
    release();
    await replaying;
    const snap = await plain.snapshot(u);
    expect(snap.events).toBe(4);
    expect(snap.state.total.attempts).toBe(4);
  });
});

describe('learner state replay of a long history', () => {
  it('replays a learner with hundreds of thousands of attempts', async () => {
    const catalog = demoCatalog();
    const item = catalog.items[0]!.id;
    const n = 200_000;
    const events: ProgressEventRow[] = Array.from({ length: n }, (_, i) => ({ user_id: 'u', event_id: `e${i}`, item_id: item, correct: i % 2, at: 1_000 + i, received_at: 1_000 + i }));
    const written: number[] = [];
    const repo = {
      getState: async () => undefined,
      getBase: async () => EMPTY_BASE,
      eventsFor: async () => events,
      countEvents: async () => n,
      ktParamsJson: async () => undefined,
      ktParamsFittedAt: async () => undefined,
      catalogsJson: async () => [],
      putState: async (_u: string, _j: string, _at: number, count: number) => (written.push(count), true),
    };
    const snap = await new LearnerModel(repo, { now: () => 10_000_000 }).apply('u', [events[n - 1]!], catalog);
    expect(snap).toMatchObject({ events: n, lastEventAt: 1_000 + n - 1 });
    expect(written).toEqual([n]);
  });
});
