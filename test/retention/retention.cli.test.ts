import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-process.js';
import { seedUsers } from '../helpers/databases.js';
import { demoCatalog } from '../../src/features/learning-path/catalog-provider.js';
import { LearningRepository } from '../../src/features/learning-path/learning.repository.js';
import { openStore, type Store } from '../../src/platform/db/database.js';
import { Migrator } from 'kysely';
import { migrateUp, migrationStatus } from '../../src/platform/db/migrator.js';
import { migrations } from '../../src/platform/db/migrations/index.js';

// The real CLI (built by `npm run build`) on a SQLite file: without a retention section it
// deletes nothing and says why; --dry-run counts and deletes nothing; a run deletes.
// The CLI runs on the system clock, so the rows are dated from now.
const dir = mkdtempSync(join(tmpdir(), 'tg-retention-cli-'));
const DATABASE_URL = `sqlite:${join(dir, 't.db')}`;
const POLICY = join(dir, 'policy.yaml');
writeFileSync(POLICY, 'retention:\n  evaluations: 180d\n  progressEvents: 365d\n  recommendations: 90d\n  userBudgets: 63d\n');
const DAY = 86_400_000;

const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { DATABASE_URL, TUTORGATE_DATA_DIR: dir, ...env });

describe('tutorgate retention run', { timeout: 90_000 }, () => {
  let store: Store;
  const count = async (table: 'evaluations' | 'progress_events' | 'recommendations' | 'budget_counters') => Number((await store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

  beforeAll(async () => {
    store = openStore(DATABASE_URL);
    await migrateUp(store.db);
    const now = Date.now();
    const row = (id: string, days: number) => ({ id, user_id: 'cli-learner', rubric_id: 'demo-evaporation', rubric_version: 1, rubric_json: null, question: 'Q', answer: 'A', result_json: '{}', source: 'rules', confidence: 0.9, review_status: 'none' as const, review_reasons: null, override_json: null, reviewed_by: null, reviewed_at: null, created_at: now - days * DAY });
    await store.db.insertInto('evaluations').values([row('ev-old', 200), row('ev-new', 5)]).execute();
    const item = demoCatalog().items[0]!.id;
    await seedUsers(store.db, 'cli-learner');
    await new LearningRepository(store.db).insertEvents([400, 390, 10].map((days, i) => ({ user_id: 'cli-learner', event_id: `e${i}`, item_id: item, correct: 1, at: now - days * DAY, received_at: now })));
    await store.db.insertInto('recommendations').values({ id: 'rec-old', user_id: 'cli-learner', experiment: null, variant: null, source: 'rules', item_ids: '[]', at: now - 100 * DAY }).execute();
    await store.db.insertInto('budget_counters').values([{ key: 'user:cli-learner:old', spent_micros: 5, reserved_micros: 0, updated_at: now - 100 * DAY }, { key: 'user:cli-learner:now', spent_micros: 5, reserved_micros: 0, updated_at: now }]).execute();
  });
  afterAll(() => store?.close());

  it('deletes nothing without a retention section, and says so', async () => {
    const r = await cli(['retention', 'run']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).deleted).toEqual({ evaluations: 0, calibrationSet: 0, progressEvents: 0, recommendations: 0, userBudgets: 0 });
    expect(r.err).toMatch(/the policy sets no retention period/);
    expect(await count('evaluations')).toBe(2);
  });

  it('--dry-run prints what would be deleted per kind and deletes nothing', async () => {
    const r = await cli(['retention', 'run', '--dry-run'], { TUTORGATE_POLICY: POLICY });
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ dryRun: true, deleted: { evaluations: 1, calibrationSet: 0, progressEvents: 2, recommendations: 1, userBudgets: 1 }, before: { calibrationSet: null } });
    expect([await count('evaluations'), await count('progress_events'), await count('recommendations'), await count('budget_counters')]).toEqual([2, 3, 1, 2]);
  });

  it('a run deletes them and prints the counts', async () => {
    const r = await cli(['retention', 'run'], { TUTORGATE_POLICY: POLICY });
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ dryRun: false, deleted: { evaluations: 1, progressEvents: 2, recommendations: 1, userBudgets: 1 } });
    expect([await count('evaluations'), await count('progress_events'), await count('recommendations'), await count('budget_counters')]).toEqual([1, 1, 0, 1]);
    // The two deleted attempts live on in the learner's baseline.
    expect(await store.db.selectFrom('learner_states').select(['events', 'base_events']).where('user_id', '=', 'cli-learner').executeTakeFirst()).toEqual({ events: 2, base_events: 2 });
  });

  it('--dry-run on a store the upgrade has not migrated yet changes nothing, the schema included', async () => {
    const url = `sqlite:${join(dir, 'before-0010.db')}`;
    const old = openStore(url);
    try {
      const names = Object.keys(migrations);
      await new Migrator({ db: old.db, provider: { getMigrations: async () => migrations } }).migrateTo(names[names.indexOf('0010-retention') - 1]!);
      const r = await cli(['retention', 'run', '--dry-run'], { TUTORGATE_POLICY: POLICY, DATABASE_URL: url });
      expect(r.code).toBe(1);
      expect(r.err.trim()).toMatch(/^tutorgate: the store has migrations to apply \(tutorgate migrate up\)/);
      expect((await migrationStatus(old.db)).find((m) => m.name === '0010-retention')?.executedAt).toBeUndefined();
    } finally {
      await old.close();
    }
  });

  it('refuses a policy whose period is too short, naming the field', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'retention:\n  progressEvents: 7d\n');
    const r = await cli(['retention', 'run'], { TUTORGATE_POLICY: bad });
    expect(r.code).toBe(1);
    expect(r.err.trim()).toMatch(/^tutorgate: .*retention\.progressEvents: at least 60d/);
  });
});
