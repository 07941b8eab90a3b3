// Overhead of the LLM client (breaker, gate, retry loop, deadline, record, JSON parse + validation)
// over a bare SDK call, both against the simulator at 0 ms latency. `npx tsx bench/llm-client.bench.ts`
// Writes bench/results/llm-client.json. Target: client p50 - raw p50 <= 0.2 ms.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import Anthropic from '@anthropic-ai/sdk';
import { createAnthropicClient } from '../src/llm/client/index.js';
import { createHttpFetch } from '../src/llm/client/http-transport.js';
import { messageParams } from '../src/llm/client/message-params.js';
import { startSimulator } from '../src/llm/simulator/index.js';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 3_000);
const WARMUP = 300;
const KEY = 'sk-ant-.api03-BENCHKEY-0000000000000000-beef';
const MODEL = 'claude-haiku-5-5';

const sim = await startSimulator({ apiKey: KEY, latencyMs: 0, maxRecordedRequests: 1_000 });

const schema = {
  type: 'object',
  properties: { score: { type: 'integer', minimum: 0, maximum: 5 }, feedback: { type: 'string' } },
  required: ['score', 'feedback'],
  additionalProperties: false,
};
const system = [{ text: 'You grade short answers against a rubric. '.repeat(40), cache: '5m' as const }, { text: 'Answer as JSON.' }];
const user = 'Question: Why is the sky blue? Answer: Rayleigh scattering of shorter wavelengths.';

const client = createAnthropicClient({
  apiKey: KEY,
  baseURL: sim.url,
  models: { default: MODEL },
  timeoutsMs: { default: 30_000 },
  retry: { maxRetries: 2, maxTotalMs: 60_000, baseDelayMs: 200 },
  breaker: { failureThreshold: 5, openMs: 30_000, halfOpenProbes: 1 },
  concurrency: { maxInFlight: 16, maxQueued: 64, queueTimeoutMs: 5_000 },
  onCall: () => {},
});
// The raw SDK gets the client's transport too, so the difference is the client's own work.
const transport = createHttpFetch();
const raw = new Anthropic({ apiKey: KEY, baseURL: sim.url, maxRetries: 0, timeout: 30_000, logLevel: 'off', fetch: transport });
// The same body the client sends, so both sides get the same answer from the simulator.
const params = messageParams({ model: MODEL, system, messages: [{ role: 'user', content: user }], schema, maxTokens: 300 });

const parse = (v: unknown) => (typeof v === 'object' && v !== null && 'score' in v ? { ok: true as const, value: v } : { ok: false as const, problems: ['no score'] });
const viaClient = () => client.structured({ feature: 'grading', system, user, schema, parse, maxTokens: 300 });
const viaRaw = () => raw.messages.create(params);

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) * 1_000;
}

for (let i = 0; i < WARMUP; i++) {
  await viaClient();
  await viaRaw();
}

const clientUs = new Float64Array(ITERATIONS);
const rawUs = new Float64Array(ITERATIONS);
const diffUs = new Float64Array(ITERATIONS);
for (let i = 0; i < ITERATIONS; i++) {
  // Alternate which goes first so connection reuse and GC pauses do not favour one side.
  if (i % 2 === 0) {
    clientUs[i] = await time(viaClient);
    rawUs[i] = await time(viaRaw);
  } else {
    rawUs[i] = await time(viaRaw);
    clientUs[i] = await time(viaClient);
  }
  diffUs[i] = clientUs[i]! - rawUs[i]!;
}

function summary(samples: Float64Array) {
  const s = Float64Array.from(samples).sort();
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 10) / 10;
  return { p50Us: at(0.5), p90Us: at(0.9), p99Us: at(0.99) };
}

// Second view, without sockets or the simulator: both sides get the same canned response from an
// in-process fetch, so the difference is the client's own CPU cost, free of loopback and server noise.
const canned = JSON.stringify({
  id: 'msg_bench',
  type: 'message',
  role: 'assistant',
  model: MODEL,
  content: [{ type: 'text', text: '{"score":4,"feedback":"Good."}' }],
  stop_reason: 'end_turn',
  usage: { input_tokens: 120, output_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 400 },
});
const fakeFetch = (async () =>
  new Response(canned, { status: 200, headers: { 'content-type': 'application/json', 'request-id': 'req_bench' } })) as typeof fetch;
const localClient = createAnthropicClient({
  apiKey: KEY,
  baseURL: 'http://bench.invalid',
  models: { default: MODEL },
  timeoutsMs: { default: 30_000 },
  retry: { maxRetries: 2, maxTotalMs: 60_000, baseDelayMs: 200 },
  breaker: { failureThreshold: 5, openMs: 30_000, halfOpenProbes: 1 },
  concurrency: { maxInFlight: 16, maxQueued: 64, queueTimeoutMs: 5_000 },
  fetch: fakeFetch,
});
const localRaw = new Anthropic({ apiKey: KEY, baseURL: 'http://bench.invalid', maxRetries: 0, timeout: 30_000, logLevel: 'off', fetch: fakeFetch });
const localViaClient = () => localClient.structured({ feature: 'grading', system, user, schema, parse, maxTokens: 300 });
const localViaRaw = () => localRaw.messages.create(params);
for (let i = 0; i < WARMUP * 3; i++) {
  await localViaClient();
  await localViaRaw();
}
const LOCAL_ITERATIONS = ITERATIONS * 3;
const localClientUs = new Float64Array(LOCAL_ITERATIONS);
const localRawUs = new Float64Array(LOCAL_ITERATIONS);
for (let i = 0; i < LOCAL_ITERATIONS; i++) {
  if (i % 2 === 0) {
    localClientUs[i] = await time(localViaClient);
    localRawUs[i] = await time(localViaRaw);
  } else {
    localRawUs[i] = await time(localViaRaw);
    localClientUs[i] = await time(localViaClient);
  }
}

// Third view: the SDK's CPU per call with Node's built-in fetch against the node:http
// transport the client uses (src/llm/client/http-transport.ts), same simulator, same body.
// CPU of this process (simulator included, the same for both), sequential calls.
async function cpuPerCallMs(fn: () => Promise<unknown>, n: number): Promise<number> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn();
  const d = process.cpuUsage(t0);
  return Math.round((d.user + d.system) / n) / 1000;
}
const builtinFetchSdk = new Anthropic({ apiKey: KEY, baseURL: sim.url, maxRetries: 0, timeout: 30_000, logLevel: 'off' });
const transportCpu = { builtinFetchMs: 0, httpTransportMs: 0 };
for (let round = 0; round < 2; round++) {
  transportCpu.builtinFetchMs += await cpuPerCallMs(() => builtinFetchSdk.messages.create(params), ITERATIONS / 2);
  transportCpu.httpTransportMs += await cpuPerCallMs(viaRaw, ITERATIONS / 2);
}
transportCpu.builtinFetchMs = Math.round((transportCpu.builtinFetchMs / 2) * 1000) / 1000;
transportCpu.httpTransportMs = Math.round((transportCpu.httpTransportMs / 2) * 1000) / 1000;

const c = summary(clientUs);
const r = summary(rawUs);
const overheadP50Ms = Math.round((c.p50Us - r.p50Us) / 10) / 100;
const pairedMedianMs = Math.round(summary(diffUs).p50Us / 10) / 100;
const results = {
  generatedAt: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  iterations: ITERATIONS,
  simulatorLatencyMs: 0,
  client: c,
  rawSdk: r,
  overheadP50Ms,
  pairedMedianOverheadMs: pairedMedianMs,
  targetMs: 0.2,
  withinTarget: overheadP50Ms <= 0.2,
  upstreamCalls: sim.stats().messages,
  inProcessFetch: {
    iterations: LOCAL_ITERATIONS,
    client: summary(localClientUs),
    rawSdk: summary(localRawUs),
    overheadP50Ms: Math.round((summary(localClientUs).p50Us - summary(localRawUs).p50Us) / 10) / 100,
  },
  transportCpuPerCall: { ...transportCpu, note: 'CPU ms per SDK call (this process, simulator included), sequential' },
  loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
};

mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/llm-client.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
transport.close();
await sim.close();
