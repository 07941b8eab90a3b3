import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../../src/llm/simulator/index.js';
import type { Simulator } from '../../src/llm/simulator/types.js';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

const run = (args: string[], env: NodeJS.ProcessEnv) =>
  new Promise<string>((resolve, reject) => {
    const p = spawn(process.execPath, ['bin/tutorgate.js', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`tutorgate ${args.join(' ')} exited ${code}`))));
  });

// The real process, built by `npm run build` (CI: `npm ci` runs it through `prepare`).
describe('graceful shutdown of the real process', () => {
  let sim: Simulator;
  let env: NodeJS.ProcessEnv;
  let key: string;
  let server: ChildProcess | undefined;
  let url: string;
  // Per server: a server of an earlier test may report its exit late.
  let exited: { code?: number | null; signal?: NodeJS.Signals | null } = {};

  beforeAll(async () => {
    sim = await startSimulator({ apiKey: 'sk-ant-.shutdown-test-000000000000', latencyMs: 1500 });
    const dir = mkdtempSync(join(tmpdir(), 'tg-shutdown-'));
    env = {
      ...process.env,
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${join(dir, 'tg.db')}`,
      TUTORGATE_DATA_DIR: dir,
      ANTHROPIC_API_KEY: 'sk-ant-.shutdown-test-000000000000',
      ANTHROPIC_BASE_URL: sim.url,
      TUTORGATE_JWT_SECRET: 'shutdown-test-secret-0123456789abcdef',
      LOG_LEVEL: 'warn',
    };
    await run(['users', 'create', '--id', 'drain', '--tier', 'premium'], env);
    key = (await run(['keys', 'create', '--user', 'drain'], env)).split('\n').at(-1)!;
  }, 60_000);
  afterAll(async () => {
    await sim.close();
  });
  afterEach(() => {
    if (exited.code === undefined) server?.kill('SIGKILL');
  });

  async function startServer(): Promise<void> {
    const port = await freePort();
    const mine: typeof exited = {};
    exited = mine;
    server = spawn(process.execPath, ['bin/tutorgate.js', 'serve'], { env: { ...env, PORT: String(port) }, stdio: 'ignore' });
    server.on('exit', (code, signal) => Object.assign(mine, { code, signal }));
    url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 150; i++) {
      if (await fetch(`${url}/healthz`).then((r) => r.ok).catch(() => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  // A learning path whose upstream call is under way, so the request is truly in flight
  // (wrapped: awaiting a bare promise of the response would wait for the response).
  async function requestInFlight(): Promise<{ response: Promise<Response> }> {
    const before = sim.requests.length;
    const response = fetch(`${url}/v1/learning-paths`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{}' });
    for (let i = 0; i < 100 && sim.requests.length === before; i++) await new Promise((r) => setTimeout(r, 50));
    expect(sim.requests.length).toBeGreaterThan(before);
    return { response };
  }

  async function expectAnsweredThenExit0(response: Promise<Response>): Promise<void> {
    const res = await response;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { source: string }).source).toBe('llm');
    for (let i = 0; i < 100 && exited.code === undefined; i++) await new Promise((r) => setTimeout(r, 50));
    expect(exited).toEqual({ code: 0, signal: null });
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  }

  // `tutorgate serve | head`: the reader of stdout has exited, so every later log write
  // fails (EPIPE). The drain and the exit must not wait on them (the test's timeout is the
  // bound: without it a process could stop listening and live on).
  it('on SIGTERM exits 0 although the reader of its stdout has gone', async () => {
    const port = await freePort();
    const mine: typeof exited = {};
    exited = mine;
    server = spawn(process.execPath, ['bin/tutorgate.js', 'serve'], { env: { ...env, PORT: String(port), LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'ignore'] });
    server.on('exit', (code, signal) => Object.assign(mine, { code, signal }));
    url = `http://127.0.0.1:${port}`;
    const stdout = server.stdout!;
    await new Promise<void>((resolve) => stdout.on('data', (d: Buffer) => d.toString().includes('Server listening') && resolve()));
    stdout.destroy(); // the reader goes, as `head` does after its lines
    for (let i = 0; i < 5; i++) expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const { response } = await requestInFlight();
    server!.kill('SIGTERM');
    await expectAnsweredThenExit0(response);
  }, 30_000);

  it('on SIGTERM finishes the request in flight, then stops accepting and exits 0', async () => {
    await startServer();
    const { response } = await requestInFlight();
    server!.kill('SIGTERM');
    await expectAnsweredThenExit0(response);
  }, 30_000);

  // A supervisor that signals again, or Ctrl-C under `npm start` (the terminal and npm both
  // deliver SIGINT): the drain goes on, still bounded by TUTORGATE_SHUTDOWN_TIMEOUT_MS.
  it.each(['SIGTERM', 'SIGINT'] as const)('a second %s during the drain does not cut it short', async (signal) => {
    await startServer();
    const { response } = await requestInFlight();
    server!.kill(signal);
    // The first signal has been taken once the instance stops taking new requests (the
    // connection is refused, or a kept-alive one answered 503 shutting_down).
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${url}/healthz`).catch(() => undefined);
      if (r?.status !== 200) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    server!.kill(signal);
    await expectAnsweredThenExit0(response);
  }, 30_000);
});

// The mechanism behind the test above, made certain: lines still being written when the
// process exits, to a pipe whose reader has gone. pino writes what is left synchronously on
// exit, and that write retried the failing pipe for ever: the process never ended.
describe('exiting with log lines unwritten to a closed pipe', () => {
  const child = `
    import { createLogger, exitAfterLogs } from './dist/platform/logger.js';
    const logger = createLogger('info');
    logger.info('ready');
    process.stdin.once('data', () => {
      logger.info('one');
      logger.info('two');
      void exitAfterLogs(logger, 3, 1000);
    });`;

  let p: ChildProcess | undefined;
  afterEach(() => {
    if (p?.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });

  it('exits, with the code it was given', async () => {
    const c = spawn(process.execPath, ['--input-type=module', '-e', child], { stdio: ['pipe', 'pipe', 'ignore'] });
    p = c;
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => c.on('exit', (code, signal) => resolve({ code, signal })));
    await new Promise<void>((resolve) => c.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
    c.stdout.destroy();
    c.stdin.write('go\n');
    expect(await exit).toEqual({ code: 3, signal: null });
  }, 20_000);
});
