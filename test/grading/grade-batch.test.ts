import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradeBatch, type GradeBatchDeps } from '../../src/features/grading/grade-batch.js';
import { UsageLedgerRepository } from '../../src/features/usage/usage-ledger.repository.js';
import { BudgetRepository } from '../../src/features/usage/budget.repository.js';
import { sharedBudgetLines } from '../../src/features/usage/budget-policy.js';
import { isoDay } from '../../src/platform/clock.js';
import { seedUsers } from '../helpers/databases.js';
import { createSimulatedApp } from '../helpers/simulated-app.js';

type App = Awaited<ReturnType<typeof createSimulatedApp>>;

describe('grade-batch through the Message Batches API', () => {
  let t: App;
  const dir = mkdtempSync(join(tmpdir(), 'tg-batch-'));
  beforeAll(async () => {
    t = await createSimulatedApp();
    await seedUsers(t.store.db, 'teacher-batch', 'teacher-bom', 'teacher-expired'); // the teachers the batches are billed to
  });
  afterAll(() => t.close());

  const deps = (over: Partial<GradeBatchDeps> = {}): GradeBatchDeps => ({
    llm: t.container.llm,
    metering: t.container.metering,
    ledger: new UsageLedgerRepository(t.store.db),
    progress: () => {},
    notice: () => {},
    now: () => Date.now(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    pollMs: 20,
    userId: 'teacher-batch',
    budgetLines: (at) => sharedBudgetLines(t.container.policy, 'grading', at), // as the CLI wires it
    maxTokens: 1024,
    ...over,
  });

  it('grades a CSV class set at batch prices, with the ledger equal to what the simulator charged', async () => {
    const file = join(dir, 'class.csv');
    writeFileSync(file, 'id,answer\ns1,"The sun heats the water, so it evaporates into vapour."\ns2,It soaked into the ground.\ns3,"It dried up, because it was hot."\n');
    const rubric = await t.container.grading.service.rubric('demo-evaporation');
    const out = join(dir, 'class.graded.csv');
    const seen: number[] = [];
    const r = await gradeBatch(file, rubric, out, deps({ progress: (done) => seen.push(done) }));
    expect(r.rows.map((x) => x.id)).toEqual(['s1', 's2', 's3']);
    expect(readFileSync(out, 'utf8').split('\n')[0]).toBe('id,score,maxScore,source,confidence,levels,problem');
    expect(seen.at(-1)).toBe(3);
    const charges = t.sim.charges.filter((c) => c.batch);
    expect(charges).toHaveLength(3);
    const rows = (await new UsageLedgerRepository(t.store.db).settledRows({ userId: 'teacher-batch' })).filter((x) => x.batch === 1);
    expect(rows.map((x) => x.message_id).sort()).toEqual(charges.map((c) => c.id).sort());
    for (const row of rows) {
      const full = t.container.prices.cost(row.model, { inputTokens: row.input_tokens, outputTokens: row.output_tokens, cacheWrite5mTokens: row.cache_write_5m_tokens, cacheWrite1hTokens: row.cache_write_1h_tokens, cacheReadTokens: row.cache_read_tokens }, Number(row.created_at)).costMicros;
      expect(Math.abs(Number(row.cost_micros) - full / 2)).toBeLessThanOrEqual(1);
    }
    // What the batch cost counts against the day's grading and global budgets.
    const day = isoDay(Number(rows[0]!.created_at));
    const total = rows.reduce((s, x) => s + Number(x.cost_micros), 0);
    const budgets = await new BudgetRepository(t.store.db).read([`feature:grading:${day}`, `global:${day}`]);
    expect(budgets.get(`feature:grading:${day}`)?.spent).toBe(total);
    expect(budgets.get(`global:${day}`)?.spent).toBe(total);
  });

  it('writes the results CSV with a byte-order mark when the class set had one (Excel), and without when it had none', async () => {
    const rubric = await t.container.grading.service.rubric('demo-evaporation');
    const body = 'id,answer\nZoë,"The sun heats the water, so it evaporates into vapour."\nJosé,It soaked into the ground.\n';
    const fromExcel = join(dir, 'excel.csv');
    writeFileSync(fromExcel, '\uFEFF' + body);
    await gradeBatch(fromExcel, rubric, join(dir, 'excel.out.csv'), deps({ userId: 'teacher-bom' }));
    const withBom = readFileSync(join(dir, 'excel.out.csv'));
    expect([...withBom.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    // Read back as Excel and csv-parse (bom: true) read it: the header and the ids intact.
    const parsed = parseCsv(withBom, { columns: true, bom: true }) as Array<Record<string, string>>;
    expect(parsed.map((r) => r.id)).toEqual(['Zoë', 'José']);
    expect(Object.keys(parsed[0]!)[0]).toBe('id');

    const fromScript = join(dir, 'script.csv');
    writeFileSync(fromScript, body);
    await gradeBatch(fromScript, rubric, join(dir, 'script.out.csv'), deps({ userId: 'teacher-bom' }));
    const plain = readFileSync(join(dir, 'script.out.csv'), 'utf8');
    expect(plain.startsWith('id,score,')).toBe(true);
    expect(plain).toContain('\nZoë,');
  });

  it('an answer whose request expired, or was cut by the context window, is graded by the rules and says why; only the answered ones are metered', async () => {
    t.sim.script.when('nobody reached it', { batchResult: 'expired' });
    t.sim.script.when('ran out of room', { stopReason: 'model_context_window_exceeded' });
    const file = join(dir, 'expired.csv');
    writeFileSync(file, 'id,answer\ne1,"The sun heats the water, so it evaporates into vapour."\ne2,It evaporated but nobody reached it in time.\ne3,It ran out of room in the puddle.\n');
    const rubric = await t.container.grading.service.rubric('demo-evaporation');
    const before = t.sim.charges.length;
    const r = await gradeBatch(file, rubric, join(dir, 'expired.out.csv'), deps({ userId: 'teacher-expired' }));
    expect(r.rows.map((x) => [x.id, x.source, x.problem])).toEqual([
      ['e1', 'llm', undefined],
      ['e2', 'rules', 'expired'],
      ['e3', 'rules', 'model_context_window_exceeded'],
    ]);
    const charges = t.sim.charges.slice(before);
    expect(charges).toHaveLength(2);
    const rows = await new UsageLedgerRepository(t.store.db).settledRows({ userId: 'teacher-expired' });
    expect(rows.map((x) => x.message_id).sort()).toEqual(charges.map((c) => c.id).sort());
    t.sim.script.clear();
  });

  it('resumes an interrupted run on the same batch and meters nothing twice', async () => {
    const file = join(dir, 'resume.jsonl');
    writeFileSync(file, ['{"id":"r1","answer":"Evaporation into the air."}', '{"id":"r2","answer":"The sun made it go."}'].join('\n'));
    const rubric = await t.container.grading.service.rubric('demo-evaporation');
    const before = t.sim.stats().batchesCreated;
    await expect(
      gradeBatch(file, rubric, join(dir, 'resume.out.jsonl'), deps({ progress: () => { throw new Error('interrupted'); } })),
    ).rejects.toThrow('interrupted');
    expect(existsSync(`${file}.batch-state.json`)).toBe(true);
    const r = await gradeBatch(file, rubric, join(dir, 'resume.out.jsonl'), deps());
    expect(r.resumed).toBe(true);
    expect(t.sim.stats().batchesCreated).toBe(before + 1);
    expect(readFileSync(join(dir, 'resume.out.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
    const ids = (await new UsageLedgerRepository(t.store.db).settledRows({ userId: 'teacher-batch' })).map((x) => x.message_id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('sends no blank answer: the rules grade it, and a set of blanks makes no batch at all', async () => {
    const rubric = await t.container.grading.service.rubric('demo-evaporation');
    const file = join(dir, 'blanks.jsonl');
    writeFileSync(file, ['{"id":"b1","answer":"The sun heats the water and it evaporates."}', '{"id":"b2","answer":"   "}', '{"id":"b3","answer":"\u200b"}'].join('\n'));
    const before = t.sim.charges.filter((c) => c.batch).length;
    const r = await gradeBatch(file, rubric, join(dir, 'blanks.out.jsonl'), deps());
    expect(t.sim.charges.filter((c) => c.batch).length - before).toBe(1);
    expect(r.missing).toEqual([]);
    expect(r.rows.map((x) => [x.id, x.source, x.score, x.problem])).toEqual([
      ['b1', 'llm', r.rows[0]!.score, undefined],
      ['b2', 'rules', 0, 'blank_input'],
      ['b3', 'rules', 0, 'blank_input'],
    ]);
    const onlyBlanks = join(dir, 'only-blanks.jsonl');
    writeFileSync(onlyBlanks, ['{"id":"z1","answer":" "}', '{"id":"z2","answer":"\\t"}'].join('\n'));
    const batches = t.sim.stats().batchesCreated;
    const z = await gradeBatch(onlyBlanks, rubric, join(dir, 'only-blanks.out.jsonl'), deps());
    expect(t.sim.stats().batchesCreated).toBe(batches);
    expect(z).toMatchObject({ batchId: undefined, missing: [] });
    expect(readFileSync(join(dir, 'only-blanks.out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).problem)).toEqual(['blank_input', 'blank_input']);
  });
});
