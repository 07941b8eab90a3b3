import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evalKnowledgeTracing } from './eval-kt.js';

const DIR = '/work/shared/data/kt/assistments09';

describe('evalKnowledgeTracing', () => {
  it('ranks held-out learners well above chance on a subset and writes one prediction per row', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'kt-')), 'pred.tsv');
    const r = await evalKnowledgeTracing({
      trainFile: `${DIR}/train.tsv`,
      testFile: `${DIR}/test.tsv`,
      predictionsOut: out,
      maxTrainUsers: 300,
      maxTestUsers: 100,
      // A fixed prior keeps the test quick; the l2 search runs in the full-data benchmark.
      fit: { l2: 3 },
    });
    expect(r.auc).toBeGreaterThan(0.7);
    expect(r.rmse).toBeLessThan(0.46);
    const lines = (await readFile(out, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(r.n);
    const [user, item, correct, p] = lines[0]!.split('\t');
    const first = (await readFile(`${DIR}/test.tsv`, 'utf8')).split('\n')[1]!.split('\t');
    expect([user, item, correct]).toEqual([first[0], first[1], first[3]]);
    expect(Number(p)).toBeGreaterThan(0);
    expect(Number(p)).toBeLessThan(1);
  });
});
