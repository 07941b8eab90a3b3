import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'vitest';

// The service as operators run it: the compiled CLI (`node bin/tutorgate.js serve`) in its
// own process group, configured only through the environment. `npm run build` (CI's
// `npm ci` runs it) must have produced dist/ first.
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = 'bin/tutorgate.js';
const run = promisify(execFile);

export const E2E_JWT_SECRET = 'e2e-jwt-secret-0123456789abcdef0123456789abcdef';
export const E2E_WEBHOOK_SECRET = 'whsec_e2e_0123456789abcdef';

// Only what the service needs: nothing from the test runner's environment (REDIS_URL,
// PORT, …) leaks into the child by accident.
export function baseEnv(extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    TUTORGATE_JWT_SECRET: E2E_JWT_SECRET,
    TUTORGATE_WEBHOOK_SECRET: E2E_WEBHOOK_SECRET,
    TUTORGATE_ALERT_EVALUATOR: 'off',
    ...extra,
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Runs one CLI command to completion; returns its stdout, trimmed. */
export async function cli(args: string[], env: Record<string, string>): Promise<string> {
  const { stdout } = await run(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: baseEnv(env), timeout: 60_000 });
  return stdout.trim();
}

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** Kills the whole process group and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startService(env: Record<string, string>, opts: { timeoutMs?: number } = {}): Promise<ServiceProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd: REPO_ROOT,
    env: baseEnv({ ...env, PORT: String(port) }),
    detached: true, // its own process group: kill(-pid) reaches everything it started
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const svc: ServiceProcess = {
    url,
    child,
    output: () => out,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
      await exited;
    },
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 45_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`tutorgate serve exited (${child.exitCode ?? child.signalCode}) before it was healthy:\n${out}`);
    try {
      const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return svc;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await svc.kill();
      throw new Error(`tutorgate serve did not become healthy in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A real HTTP call; `timeoutMs` is a liveness bound (a hang fails the test instead of stalling it). */
export async function http(base: string, method: string, path: string, opts: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpResult> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000) });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export type BillingEventType = 'subscription.created' | 'subscription.renewed' | 'subscription.canceled' | 'payment.failed';

/** Sends a billing event exactly as the payment provider would: HMAC over "t.body". */
export async function sendBillingEvent(base: string, event: { id: string; type: BillingEventType; created: number; data: Record<string, unknown> }, secret = E2E_WEBHOOK_SECRET, opts: { tamper?: boolean } = {}): Promise<HttpResult> {
  const raw = JSON.stringify(event);
  const t = String(Math.floor(Date.now() / 1000));
  const sig = createHmac('sha256', secret).update(`${t}.`).update(raw).digest('hex');
  const signature = `t=${t},v1=${opts.tamper ? sig.replace(/^./, (c) => (c === '0' ? '1' : '0')) : sig}`;
  return http(base, 'POST', '/v1/webhooks/billing', { rawBody: raw, headers: { 'tutorgate-signature': signature } });
}

/**
 * What the contract allows while a store (Postgres, SQLite) cannot serve: 503
 * `service_unavailable` as problem+json with a positive Retry-After, nothing internal. Any other
 * 5xx (a 500 above all) is a bug, so fault tests assert this, not "some 5xx".
 */
export function expectStoreUnavailable(r: HttpResult): void {
  expect(r.status, `${r.status}: ${r.text.slice(0, 300)}`).toBe(503);
  expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(r.json).toMatchObject({ status: 503, code: 'service_unavailable', requestId: expect.any(String) });
  expectNoInternals(r.text);
}

/** No stack frames, file paths or error class dumps in a client-visible body. */
export function expectNoInternals(text: string): void {
  if (/\bat [\w.<>]+ \(|node:internal|\/src\/|\/dist\/|\.ts:\d+|\.js:\d+|ECONNREFUSED|Error: /.test(text)) {
    throw new Error(`response leaks internals: ${text.slice(0, 500)}`);
  }
}
