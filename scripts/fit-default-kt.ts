// Fits the population prior shipped as src/features/learning-path/kt/default-kt-params.json:
// the Best-LR count weights learned on ASSISTments 2009, with item and skill identities
// erased (every item is "any item"), so the prior transfers to any catalog. A deployment
// replaces it with parameters fitted on its own logs (`tutorgate kt-fit`). Like every fit,
// it is monotone: a right answer never lowers mastery, a wrong one never raises it (ADR 0015).
// Run: npx tsx scripts/fit-default-kt.ts ../shared/data/kt/assistments09/train.tsv
import { writeFileSync } from 'node:fs';
import { readAttemptsTsv } from '../src/features/learning-path/kt/attempt.js';
import { fitKnowledgeTracer } from '../src/features/learning-path/kt/fit-knowledge-tracer.js';

const file = process.argv[2] ?? '../shared/data/kt/assistments09/train.tsv';
const rows = (await readAttemptsTsv(file)).map((r) => ({ ...r, itemId: 'any', skillIds: ['any'] }));
const params = fitKnowledgeTracer(rows, { l2: 3 });
writeFileSync('src/features/learning-path/kt/default-kt-params.json', JSON.stringify(params) + '\n');
console.log(`fitted on ${rows.length} attempts; ${params.weights.length} weights`);
