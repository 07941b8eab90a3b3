import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageAnalyticsRepository } from '../../src/features/usage/usage-analytics.repository.js';
import { randomBytes } from 'node:crypto';
import { openStore } from '../../src/platform/db/database.js';
import { migrateUp } from '../../src/platform/db/migrator.js';
import { openTestStore, PG_ADMIN_URL, pgAdminQuery, STORE_KINDS, type TestStore } from '../helpers/databases.js';

// A Postgres whose default collation is a locale's (ICU en-US: "a" < "B" < "c"), as a
// production database may be, where the test databases use C.
async function openIcuStore(): Promise<TestStore> {
  const name = `tg_test_icu_${randomBytes(4).toString('hex')}`;
  await pgAdminQuery(`create database ${name} template template0 locale_provider icu icu_locale 'en-US' locale 'C.UTF-8'`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  const store = openStore(url.toString(), { poolSize: 2 });
  await migrateUp(store.db);
  return {
    store,
    url: url.toString(),
    async cleanup() {
      await store.close();
      await pgAdminQuery(`drop database if exists ${name} with (force)`);
    },
  };
}

// The top spenders (the dashboard's top users, `top=N` of /v1/admin/usage) are cut at N.
// Users of equal spend (identical calls cost the same) came in whatever order the database
// aggregated them, a hash order on Postgres: which of them made the cut differed between
// the stores and from one request to the next. Ties now go by id, in binary order on both.
describe.each([...STORE_KINDS, 'postgres with a locale collation'] as const)('usage analytics on %s', (kind) => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = kind === 'postgres with a locale collation' ? await openIcuStore() : await openTestStore(kind);
  });
  afterAll(() => ts.cleanup());

  const row = (user_id: string, cost_micros: number, feature = 'grading') => ({
    day: '2026-11-27', user_id, feature, model: 'm', calls: 1, input_tokens: 10, output_tokens: 5, cache_write_tokens: 0, cache_read_tokens: 0, cost_micros,
  });

  it('cuts the top spenders at the same users on every read, ties by id', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `u${String((i * 17) % 40).padStart(2, '0')}`);
    await ts.store.db.insertInto('usage_daily').values([...ids.map((id) => row(id, 1_000)), row('big', 5_000), row('Zed', 1_000), row('zed', 1_000)]).execute();
    const repo = new UsageAnalyticsRepository(ts.store.db);
    const top = await repo.grouped({ groupBy: ['user'], from: '2026-11-01', to: '2026-11-30', limit: 6, orderByCost: true });
    expect(top.map((r) => r.user)).toEqual(['big', 'Zed', 'u00', 'u01', 'u02', 'u03']);
    const byFeature = await repo.grouped({ groupBy: ['feature', 'user'], from: '2026-11-01', to: '2026-11-30', limit: 3, orderByCost: true });
    expect(byFeature.map((r) => [r.feature, r.user])).toEqual([['grading', 'big'], ['grading', 'Zed'], ['grading', 'u00']]);
    // Without a cut, rows come in the order of their group columns, binary on every store.
    const all = await repo.grouped({ groupBy: ['user'], from: '2026-11-01', to: '2026-11-30' });
    expect(all.map((r) => r.user)).toEqual(['Zed', 'big', ...[...ids].sort(), 'zed']);
  });
});
