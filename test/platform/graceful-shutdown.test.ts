import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  let server: ChildProcess;
  let url: string;
  let key: string;
  const exited = { code: undefined as number | null | undefined };

  beforeAll(async () => {
    sim = await startSimulator({ apiKey: 'sk-ant-.shutdown-test-000000000000', latencyMs: 1500 });
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'tg-shutdown-'));
    const env = {
      ...process.env,
      PORT: String(port),
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
    server = spawn(process.execPath, ['bin/tutorgate.js', 'serve'], { env, stdio: 'ignore' });
    server.on('exit', (code) => (exited.code = code));
    url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 150; i++) {
      if (await fetch(`${url}/healthz`).then((r) => r.ok).catch(() => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 60_000);
  afterAll(async () => {
    if (exited.code === undefined) server.kill('SIGKILL');
    await sim.close();
  });

  it('on SIGTERM finishes the request in flight, then stops accepting and exits 0', async () => {
    const inFlight = fetch(`${url}/v1/learning-paths`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{}' });
    // wait until the upstream call is under way, so the request is truly in flight
    for (let i = 0; i < 100 && sim.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(sim.requests.length).toBeGreaterThan(0);
    server.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { source: string }).source).toBe('llm');
    for (let i = 0; i < 100 && exited.code === undefined; i++) await new Promise((r) => setTimeout(r, 50));
    expect(exited.code).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  }, 30_000);
});
