import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-process.js';
import { demoCatalog } from '../../src/features/learning-path/catalog-provider.js';
import { openStore } from '../../src/platform/db/database.js';
import { migrateUp } from '../../src/platform/db/migrator.js';
import { userHash } from '../../src/platform/pseudonym.js';
import { bearer, createTestApp, type TestApp } from '../helpers/test-app.js';

// The real CLI (built by `npm run build`) against the SQLite file a running service uses:
// the export shows what the service stored, the erasure ends the learner's key in that
// service on its next request (another process's change, ADR 0013), and a second erasure
// or one during a call in flight fails with one line.
const dir = mkdtempSync(join(tmpdir(), 'tg-erase-cli-'));
const DATABASE_URL = `sqlite:${join(dir, 't.db')}`;
const LEARNER = 'cli_learner@example.org';
const ANSWER = 'Evaporation is water turning into vapour, cli answer 5521.';

const cli = (args: string[]) => runCli(args, { DATABASE_URL, TUTORGATE_DATA_DIR: dir });

describe('tutorgate users export|erase', { timeout: 90_000 }, () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    const created = await cli(['users', 'create', '--id', LEARNER, '--tier', 'premium']);
    expect(created.code, created.err).toBe(0);
    const k = await cli(['keys', 'create', '--user', LEARNER]);
    expect(k.code, k.err).toBe(0);
    key = k.out.trim();
    const store = openStore(DATABASE_URL);
    await migrateUp(store.db);
    t = await createTestApp({ store: { store, url: DATABASE_URL, cleanup: () => store.close() } });
    expect((await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: { question: 'What is evaporation?', referenceAnswer: 'Liquid water becoming vapour.', answer: ANSWER } })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'POST', url: '/v1/progress/events', headers: bearer(key), payload: { itemId: demoCatalog().items[0]!.id, correct: false } })).statusCode).toBe(202);
  });
  afterAll(async () => {
    await t?.close();
    await t?.store.close().catch(() => {});
  });

  it('export prints the learner’s data as JSON', async () => {
    const r = await cli(['users', 'export', LEARNER]);
    expect(r.code, r.err).toBe(0);
    const e = JSON.parse(r.out);
    expect(e.user.id).toBe(LEARNER);
    expect(e.tier).toBe('premium');
    expect(e.evaluations.map((x: { answer: string }) => x.answer)).toEqual([ANSWER]);
    expect(e.progressEvents).toHaveLength(1);
    expect(r.out).not.toContain(key);
  });

  it('erase refuses while a call is in flight, then erases; the running service refuses the key on its next request', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(key) })).statusCode).toBe(200);
    const { metering, policy } = t.container;
    const r = await metering.reserve({ userId: LEARNER, feature: 'grading', model: policy.models.grading!, worstCaseMicros: 1000, lines: [] });
    if (!r.ok) throw new Error('reservation refused');
    const busy = await cli(['users', 'erase', LEARNER]);
    expect(busy.code).toBe(1);
    expect(busy.err.trim()).toMatch(/^tutorgate: The user has 1 metered call\(s\) in flight/);
    await metering.release(r.reservation);

    const erased = await cli(['users', 'erase', LEARNER]);
    expect(erased.code, erased.err).toBe(0);
    expect(JSON.parse(erased.out)).toMatchObject({ userHash: userHash(LEARNER), removed: { user: 1, apiKeys: 1, subscription: 1, evaluations: 1, progressEvents: 1 }, pseudonymised: { usageLedger: 1 }, cacheEntriesPurged: null });
    // The log line (stderr) names the learner by hash, the actor as the CLI.
    expect(erased.err).toContain(userHash(LEARNER));
    expect(erased.err).toContain('"actor":"cli"');
    expect(erased.err).not.toContain(LEARNER);
    expect(erased.err).not.toContain(ANSWER);

    await new Promise((res) => setImmediate(res)); // a change by another process is seen from the next turn (ADR 0013)
    expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(key) })).statusCode).toBe(401);

    const again = await cli(['users', 'erase', LEARNER]);
    expect(again.code).toBe(1);
    expect(again.err.trim()).toBe('tutorgate: User not found.');
    expect((await cli(['users', 'export', LEARNER])).err.trim()).toBe('tutorgate: User not found.');
  });
});
