// The Anthropic simulator as its own process for `npm run bench` (bench/run.ts).
//
// Why not plain `tutorgate simulate-anthropic`: the CLI cannot be scripted, and its
// default structured answer (generated from the JSON schema alone) does not pass the
// grading validator (criteria ids/levels are picked at random, so a criterion is
// missing or graded twice). Every cache-miss grade would then be a sample + a repair
// call + a rules fallback that is never cached: not the path a benchmark of the LLM
// route should measure. This process runs the same simulator (same code as the CLI,
// `startSimulator`) with one scripted rule per rubric the bench uses, answering with a
// valid grade (every criterion once, a level of that criterion, confidence 0.9 so no
// second sample). Learning paths use the simulator's default schema answer, which is valid.
//
// node --import tsx bench/sim-process.ts --port N --latency-ms N [--min-cacheable N] [--stats-file F]
// Prints `simulator listening on URL`; on SIGTERM writes its counters to --stats-file.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startSimulator } from '../src/llm/simulator/index.js';
import { demoRubrics } from '../src/features/grading/demo-rubrics.js';
import type { Rubric } from '../src/features/grading/rubric.schema.js';
import { benchRubrics } from './fixtures.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'latency-ms': { type: 'string', default: '0' },
    'min-cacheable': { type: 'string' },
    'stats-file': { type: 'string' },
  },
});

const sim = await startSimulator({
  port: Number(values.port),
  host: '127.0.0.1',
  latencyMs: Number(values['latency-ms']),
  ...(values['min-cacheable'] !== undefined ? { minCacheableTokens: Number(values['min-cacheable']) } : {}),
  // The request log and the charge list are for tests; under load, keeping request bodies
  // for a while only moves them to the old generation for the collector to mark.
  maxRecordedRequests: 0,
  maxRecordedCharges: 0,
});

function validGrade(rubric: Rubric): unknown {
  return {
    criteria: rubric.criteria.map((c) => {
      const top = [...c.levels].sort((a, b) => b.points - a.points)[0]!;
      return { criterionId: c.id, levelId: top.id, evidence: [], justification: `The answer meets the "${top.id}" level for ${c.name.toLowerCase()}.` };
    }),
    feedback: { strengths: ['You named the key idea and used a scientific term.'], improve: ['Add one sentence on why it happens.'], nextStep: 'Explain the cause in your own words, then check it against your notes.' },
    confidence: 0.9,
  };
}

const systemText = (body: Record<string, unknown>): string => {
  const s = body.system;
  if (typeof s === 'string') return s;
  if (Array.isArray(s)) return s.map((b) => (b && typeof b === 'object' && 'text' in b ? String((b as { text: unknown }).text) : '')).join('\n');
  return '';
};

for (const rubric of [...demoRubrics(), ...benchRubrics()]) {
  const marker = `<rubric id="${rubric.id}" version="${rubric.version}">`;
  sim.script.when((body) => systemText(body as Record<string, unknown>).includes(marker), { json: validGrade(rubric) });
}

console.log(`simulator listening on ${sim.url}`);

const stop = (): void => {
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
  if (values['stats-file']) {
    const stats = sim.stats();
    const t = stats.chargedTokens;
    const totals = { calls: stats.charged, inputTokens: t.input, outputTokens: t.output, cacheCreationInputTokens: t.cacheCreation, cacheReadInputTokens: t.cacheRead };
    writeFileSync(values['stats-file'], JSON.stringify({ stats, charges: totals }, null, 2));
  }
  void sim.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
