// Where a grading request's time goes: sequential requests through the whole app
// (Fastify inject, real SDK, the bench simulator in its own process at 0 ms latency), with
// the main stages wrapped in timers. Wall time per request and per stage; stages nest
// (service.evaluate contains pipeline.run, which contains the cache lookup, which on a
// miss contains the reservation and the LLM call; the settlement runs after the answer and
// is timed on its own). `npx tsx bench/stages.bench.ts` → bench/results/stages.json
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { parse } from 'yaml';
import { bearer, createTestApp } from '../test/helpers/test-app.js';
import { gradingBody, studentAnswer } from './fixtures.js';

const N = Number(process.env.BENCH_ITERATIONS ?? 2000);
const KEY = 'sk-ant-.bench-stages-not-a-key'; // the '.' keeps it from looking like a real key

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
const sim = spawn(process.execPath, ['--import', 'tsx', 'bench/sim-process.ts', '--port', String(port), '--latency-ms', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise<void>((resolve) => sim.stdout!.on('data', (c: Buffer) => c.toString().includes('listening') && resolve()));

const t = await createTestApp({ env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}`, LOG_LEVEL: 'warn' }, policy: parse(readFileSync('bench/bench-policy.yaml', 'utf8')) });
t.clock.ms = Date.now();

const acc = new Map<string, number>();
function wrap(obj: Record<string, unknown>, name: string, label: string): void {
  const orig = (obj[name] as (...a: unknown[]) => unknown).bind(obj);
  obj[name] = (...a: unknown[]) => {
    const s = performance.now();
    const done = () => acc.set(label, (acc.get(label) ?? 0) + performance.now() - s);
    const r = orig(...a);
    if (r instanceof Promise) return r.finally(done);
    done();
    return r;
  };
}
const c = t.container as unknown as Record<string, Record<string, Record<string, unknown>>>;
wrap(c.identity!.authenticator!, 'authenticate', 'auth');
wrap(c.grading!.service!, 'evaluate', 'service.evaluate');
wrap(c.pipeline as unknown as Record<string, unknown>, 'run', 'pipeline.run');
wrap(c.limiter as unknown as Record<string, unknown>, 'hitRequest', 'limiter.hitRequest');
wrap(c.cache as unknown as Record<string, unknown>, 'getOrCompute', 'cache.getOrCompute');
wrap(c.metering as unknown as Record<string, unknown>, 'reserve', 'metering.reserve');
wrap(c.llm as unknown as Record<string, unknown>, 'structured', 'llm.structured');
wrap(c.metering as unknown as Record<string, unknown>, 'settlePriced', 'metering.settlePriced (after the answer)');
wrap(c.grading!.repo!, 'insertEvaluation', 'repo.insertEvaluation');

const key = await t.premium('stages-user');
let seq = 7_000_000;
async function one(answer: string): Promise<void> {
  const r = await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: { ...bearer(key), 'content-type': 'application/json' }, payload: gradingBody(answer) });
  if (r.statusCode !== 200) throw new Error(`${r.statusCode} ${r.body}`);
}

async function run(kind: 'miss' | 'hit'): Promise<Record<string, number>> {
  const answer = () => (kind === 'hit' ? studentAnswer(42) : studentAnswer(seq++));
  for (let i = 0; i < 300; i++) await one(answer());
  acc.clear();
  const cpu0 = process.cpuUsage();
  const s = performance.now();
  for (let i = 0; i < N; i++) await one(answer());
  const wall = performance.now() - s;
  const cpu = process.cpuUsage(cpu0);
  const out: Record<string, number> = { 'request (inject, wall, with the work after the answer)': wall / N, 'process CPU per request': (cpu.user + cpu.system) / 1000 / N };
  for (const [k, ms] of acc) out[k] = ms / N;
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(v * 1000) / 1000]));
}

const results = { generatedAt: new Date().toISOString(), node: process.version, iterations: N, unit: 'ms per request (mean)', cacheMiss: await run('miss'), cacheHit: await run('hit'), loadAverage1m: Math.round(loadavg()[0]! * 100) / 100 };
await t.close();
sim.kill('SIGTERM');
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/stages.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
