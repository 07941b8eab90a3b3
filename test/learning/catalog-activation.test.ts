import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LearningRepository } from '../../src/features/learning-path/learning.repository.js';
import { openTestStore, STORE_KINDS, type TestStore } from '../helpers/databases.js';

// One catalog is active at a time, whichever instances import at once. On Postgres (READ
// COMMITTED) an import's "deactivate the active one" did not see a catalog another import
// had just activated and not yet committed, so two imports racing left both active, and
// instances then served whichever row they read first.
describe.each(STORE_KINDS)('catalog activation on %s', (kind) => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await openTestStore(kind);
  });
  afterAll(() => ts.cleanup());

  it('leaves exactly one catalog active, one of those imported, after imports racing each other', async () => {
    const repo = new LearningRepository(ts.store.db);
    await repo.putCatalog('v0', '{"version":"v0"}', 1);
    for (let round = 1; round <= 15; round++) {
      const versions = [0, 1, 2, 3].map((i) => `r${round}-${i}`);
      await Promise.all(versions.map((v) => repo.putCatalog(v, JSON.stringify({ version: v }), round)));
      const active = await ts.store.db.selectFrom('catalogs').select('version').where('active', '=', 1).execute();
      expect(active.map((r) => r.version), `round ${round}`).toHaveLength(1);
      expect(versions).toContain(active[0]!.version);
      expect(await repo.activeCatalogVersion()).toBe(active[0]!.version);
    }
  });
});
