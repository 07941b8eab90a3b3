import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpFetch } from './http-transport.js';

// The real API is HTTPS: the transport must verify the server's certificate (the
// built-in fetch did), and trust an extra CA only when told to.
let dir: string;
let server: Server;
let base: string;
let cert: string;
let connections = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tg-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  server.on('secureConnection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('the SDK transport over HTTPS', () => {
  it('refuses a server whose certificate it cannot verify', async () => {
    const f = createHttpFetch();
    const err = await f(`${base}/`).catch((e: unknown) => e as Error & { cause?: { code?: string } });
    f.close();
    expect(err).toMatchObject({ name: 'TypeError', message: 'fetch failed' });
    expect(String((err as { cause?: { code?: string } }).cause?.code)).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  });

  it('talks to it once its CA is trusted, over a kept-alive connection', async () => {
    const f = createHttpFetch({ ca: cert });
    const before = connections;
    const first = await f(`${base}/`);
    const second = await f(`${base}/`);
    f.close();
    expect(await first.json()).toEqual({ ok: true });
    expect(second.status).toBe(200);
    expect(connections - before).toBe(1);
  });
});
