import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradeBatch, type GradeBatchDeps } from '../../src/features/grading/grade-batch.js';
import { UsageLedgerRepository } from '../../src/features/usage/usage-ledger.repository.js';
import { LlmError } from '../../src/llm/client/llm-error.js';
import type { AnthropicClient } from '../../src/llm/client/types.js';
import { seedUsers } from '../helpers/databases.js';
import { createSimulatedApp } from '../helpers/simulated-app.js';

type App = Awaited<ReturnType<typeof createSimulatedApp>>;
type Batches = AnthropicClient['batches'];

// Runs that go wrong half-way: interrupted creates, edited inputs, ids the API refuses,
// results that never come. A run finding a batch by its size, each test uses its own size.
describe('grade-batch when a run goes wrong', () => {
  let t: App;
  const dir = mkdtempSync(join(tmpdir(), 'tg-batch-resume-'));
  beforeAll(async () => {
    t = await createSimulatedApp();
    await seedUsers(t.store.db, 'teacher-resume', 'teacher-a', 'teacher-b'); // the teachers the batches are billed to
  });
  afterAll(() => t.close());

  const notices: string[] = [];
  const deps = (batches: Partial<Batches> = {}, over: Partial<GradeBatchDeps> = {}): GradeBatchDeps => ({
    llm: { batches: { ...t.container.llm.batches, ...batches } },
    metering: t.container.metering,
    ledger: new UsageLedgerRepository(t.store.db),
    progress: () => {},
    notice: (l) => notices.push(l),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => Date.now(),
    pollMs: 20,
    userId: 'teacher-resume',
    maxTokens: 1024,
    ...over,
  });
  const classSet = (name: string, ids: string[]) => {
    const file = join(dir, name);
    writeFileSync(file, ids.map((id, i) => JSON.stringify({ id, answer: i % 2 ? 'It soaked into the ground.' : 'The sun evaporated the water into vapour.' })).join('\n') + '\n');
    return file;
  };
  const rubric = () => t.container.grading.service.rubric('demo-evaporation');
  const created = () => t.sim.stats().batchesCreated;
  // The create call reaches the API, then the process "dies" before the id is saved.
  const createThenDie: Partial<Batches> = {
    create: async (items) => {
      await t.container.llm.batches.create(items);
      throw new Error('killed');
    },
  };

  it('sends ids the API would refuse as custom_id (emails, spaces, 70 characters) and maps results back to them', async () => {
    const ids = ['alice@school.org', 'bob smith', 'x'.repeat(70)];
    const out = join(dir, 'ids.out.jsonl');
    const r = await gradeBatch(classSet('ids.jsonl', ids), await rubric(), out, deps());
    expect(r.rows.map((x) => x.id)).toEqual(ids);
    expect(r.rows.every((x) => x.source === 'llm')).toBe(true);
    expect(readFileSync(out, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(ids);
  });

  it('after a kill during creation, finds the batch that reached the API instead of paying for a second one', async () => {
    const file = classSet('killed.jsonl', ['k1', 'k2', 'k3', 'k4']);
    const before = created();
    await expect(gradeBatch(file, await rubric(), join(dir, 'killed.out.jsonl'), deps(createThenDie))).rejects.toThrow('killed');
    expect(JSON.parse(readFileSync(`${file}.batch-state.json`, 'utf8'))).not.toHaveProperty('batchId');
    const r = await gradeBatch(file, await rubric(), join(dir, 'killed.out.jsonl'), deps());
    expect(created()).toBe(before + 1);
    expect(r.resumed).toBe(true);
    expect(notices.at(-1)).toMatch(`resuming ${r.batchId}`);
    expect(r.rows.map((x) => x.id)).toEqual(['k1', 'k2', 'k3', 'k4']);
    expect(r.rows.every((x) => x.source === 'llm')).toBe(true);
    const metered = (await new UsageLedgerRepository(t.store.db).settledRows({ userId: 'teacher-resume' })).map((x) => x.message_id);
    expect(new Set(metered).size).toBe(metered.length);
  });

  it('after a kill before the create reached the API, creates the batch once', async () => {
    const file = classSet('early.jsonl', ['e1', 'e2', 'e3', 'e4', 'e5']);
    const before = created();
    const die: Partial<Batches> = { create: () => Promise.reject(new Error('killed')) };
    await expect(gradeBatch(file, await rubric(), join(dir, 'early.out.jsonl'), deps(die))).rejects.toThrow('killed');
    const r = await gradeBatch(file, await rubric(), join(dir, 'early.out.jsonl'), deps());
    expect(created()).toBe(before + 1);
    expect(notices.at(-1)).toMatch('creating it now');
    expect(r.rows).toHaveLength(5);
  });

  it('refuses to guess when several batches of its size appeared since the kill, naming them', async () => {
    const file = classSet('ambiguous.jsonl', ['a1', 'a2', 'a3', 'a4', 'a5', 'a6']);
    await expect(gradeBatch(file, await rubric(), join(dir, 'ambiguous.out.jsonl'), deps(createThenDie))).rejects.toThrow('killed');
    // Another class set of the same size, graded from the same key at the same time.
    await expect(gradeBatch(classSet('other.jsonl', ['o1', 'o2', 'o3', 'o4', 'o5', 'o6']), await rubric(), join(dir, 'other.out.jsonl'), deps(createThenDie))).rejects.toThrow('killed');
    const before = created();
    await expect(gradeBatch(file, await rubric(), join(dir, 'ambiguous.out.jsonl'), deps())).rejects.toThrow(/2 batches of 6 requests were created since \(msgbatch_\w+, msgbatch_\w+\)/);
    expect(created()).toBe(before);
  });

  it("never bills another run's batch of the same size: found after a kill, checked before any result is metered, set aside", async () => {
    const mine = classSet('foreign-b.jsonl', ['b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7']);
    const die: Partial<Batches> = { create: () => Promise.reject(new Error('killed')) };
    await expect(gradeBatch(mine, await rubric(), join(dir, 'foreign-b.out.jsonl'), deps(die, { userId: 'teacher-b' }))).rejects.toThrow('killed');
    // Meanwhile another teacher grades a set of the same size from the same key.
    const theirs = await gradeBatch(classSet('foreign-a.jsonl', ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7']), await rubric(), join(dir, 'foreign-a.out.jsonl'), deps({}, { userId: 'teacher-a' }));
    const ledger = new UsageLedgerRepository(t.store.db);
    const billedTo = async (u: string) => (await ledger.settledRows({ userId: u })).length;
    expect(await billedTo('teacher-a')).toBe(7);

    await expect(gradeBatch(mine, await rubric(), join(dir, 'foreign-b.out.jsonl'), deps({}, { userId: 'teacher-b' }))).rejects.toThrow(`batch ${theirs.batchId}, found after the interrupted create, is another run's`);
    expect(await billedTo('teacher-b')).toBe(0); // was 7: teacher-a's answers, billed to teacher-b
    expect(JSON.parse(readFileSync(`${mine}.batch-state.json`, 'utf8'))).toMatchObject({ notOurs: [theirs.batchId] });
    expect(JSON.parse(readFileSync(`${mine}.batch-state.json`, 'utf8'))).not.toHaveProperty('batchId');

    const before = created();
    const r = await gradeBatch(mine, await rubric(), join(dir, 'foreign-b.out.jsonl'), deps({}, { userId: 'teacher-b' }));
    expect(created()).toBe(before + 1); // its own batch, at last
    expect(r.rows.map((x) => x.id)).toEqual(['b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7']);
    expect(await billedTo('teacher-b')).toBe(7);
    expect(await billedTo('teacher-a')).toBe(7);
  });

  it('a create the API refused (4xx) leaves no state behind: nothing was created', async () => {
    const file = classSet('refused.jsonl', ['f1', 'f2']);
    const refuse: Partial<Batches> = { create: () => Promise.reject(new LlmError('upstream_rejected', 'batches.create: 400', { status: 400 })) };
    await expect(gradeBatch(file, await rubric(), join(dir, 'refused.out.jsonl'), deps(refuse))).rejects.toThrow('400');
    expect(existsSync(`${file}.batch-state.json`)).toBe(false);
  });

  it('refuses to resume a batch whose input file was edited since', async () => {
    const file = classSet('edited.jsonl', ['d1', 'd2', 'd3']);
    const interrupted = deps({}, { progress: () => { throw new Error('interrupted'); } });
    await expect(gradeBatch(file, await rubric(), join(dir, 'edited.out.jsonl'), interrupted)).rejects.toThrow('interrupted');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"d2"', '"d9"'));
    await expect(gradeBatch(file, await rubric(), join(dir, 'edited.out.jsonl'), deps())).rejects.toThrow(/edited\.jsonl changed since its batch msgbatch_\w+ was created/);
  });

  it('an answer the batch returned nothing for is reported and graded by rules, not dropped', async () => {
    const ids = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'];
    const out = join(dir, 'missing.out.jsonl');
    // Results out of order and one short.
    const results: Batches['results'] = (id) => ({
      async *[Symbol.asyncIterator]() {
        const all = [];
        for await (const r of t.container.llm.batches.results(id)) all.push(r);
        yield* all.reverse().filter((_, i) => i !== 2);
      },
    });
    const r = await gradeBatch(classSet('missing.jsonl', ids), await rubric(), out, deps({ results }));
    expect(r.missing).toEqual(['m5']);
    expect(r.rows.map((x) => x.id)).toEqual(ids);
    expect(r.rows[4]).toMatchObject({ id: 'm5', source: 'rules', problem: 'no_result' });
    expect(r.rows.filter((x) => x.source === 'llm')).toHaveLength(6);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(7);
  });
});
