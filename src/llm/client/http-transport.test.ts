import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpFetch } from './http-transport.js';

let server: Server;
let openStream: { end(chunk: string): void } | undefined;
let base: string;
const httpFetch = createHttpFetch({ maxSockets: 4 });

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8'); // a character split between chunks stays whole
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      if (req.url === '/echo') {
        res.setHeader('content-type', 'application/json');
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.end(JSON.stringify({ method: req.method, body, auth: req.headers.authorization, length: req.headers['content-length'] }));
      } else if (req.url === '/empty') {
        res.statusCode = 204;
        res.end();
      } else if (req.url === '/sse') {
        res.setHeader('content-type', 'text/event-stream');
        res.write('event: one\ndata: {}\n\n');
        openStream = res; // the rest only once the client has read the first event and asks
      } else if (req.url === '/release') {
        openStream?.end('event: two\ndata: {}\n\n');
        res.end();
      } else if (req.url === '/slow') {
        setTimeout(() => res.end('{"late":true}'), 300);
      } else if (req.url === '/hang') {
        // never answers
      } else if (req.url === '/half') {
        res.setHeader('content-type', 'application/json');
        res.setHeader('content-length', '100');
        res.write('{"trunc');
        setTimeout(() => res.destroy(), 20);
      }
    });
  });
  server.keepAliveTimeout = 60_000; // the server keeps idle connections: closing them is the client's job here
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  httpFetch.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('the SDK transport over node:http', () => {
  it('sends method, headers and body, and returns status, every header value and the body', async () => {
    const res = await httpFetch(`${base}/echo`, { method: 'POST', headers: { authorization: 'Bearer k' }, body: '{"x":1}' });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toBe('a=1, b=2');
    expect(await res.json()).toEqual({ method: 'POST', body: '{"x":1}', auth: 'Bearer k', length: '7' });
  });

  it('sends a string body as UTF-8 with its length in bytes, and takes headers as an object, a list or a Headers', async () => {
    const body = JSON.stringify({ text: 'évaporation ✓ 💧' });
    for (const headers of [{ authorization: 'Bearer k' }, [['authorization', 'Bearer k']] as [string, string][], new Headers({ authorization: 'Bearer k' })]) {
      const res = await httpFetch(`${base}/echo`, { method: 'POST', headers, body });
      expect(await res.json()).toEqual({ method: 'POST', body, auth: 'Bearer k', length: String(Buffer.byteLength(body)) });
    }
    expect(Buffer.byteLength(body)).toBeGreaterThan(body.length);
  });

  it('reads a JSON answer from its buffer once, like fetch, and keeps a stream for any other answer', async () => {
    const json = await httpFetch(`${base}/echo`, { method: 'POST', body: 'hi' });
    expect(json.bodyUsed).toBe(false);
    expect(JSON.parse(await json.text())).toMatchObject({ body: 'hi' });
    expect(json.bodyUsed).toBe(true);
    await expect(json.json()).rejects.toThrow(/already been read/);
    const bytes = await httpFetch(`${base}/echo`, { method: 'POST', body: 'hi' });
    expect(JSON.parse(new TextDecoder().decode(await bytes.arrayBuffer()))).toMatchObject({ body: 'hi' });
    const other = await httpFetch(`${base}/slow`, { method: 'GET' }); // no content type: a plain Response
    expect(other.body).not.toBeNull();
    expect(await other.json()).toEqual({ late: true });
  });

  it('gives a null body for a 204', async () => {
    const res = await httpFetch(`${base}/empty`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
  });

  it('hands an event stream over as it arrives, not when it ends', async () => {
    // A buffering transport would never resolve here: the stream ends only after /release.
    const res = await httpFetch(`${base}/sse`);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('event: one');
    await httpFetch(`${base}/release`);
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    expect(rest).toContain('event: two');
  });

  it('waits for an answer slower than the idle-socket timeout (that timeout is for idle sockets only)', async () => {
    const f = createHttpFetch({ idleSocketMs: 100 });
    const res = await f(`${base}/slow`);
    expect(await res.json()).toEqual({ late: true });
    f.close();
  });

  it('closes a socket that stays idle longer than the idle-socket timeout', async () => {
    const f = createHttpFetch({ idleSocketMs: 50 });
    const closed = new Promise<void>((resolve) => server.once('connection', (socket) => socket.once('close', () => resolve())));
    await (await f(`${base}/echo`)).text();
    await closed; // would hang (and time the test out) if idle sockets were kept forever
    f.close();
  });

  it('rejects with an AbortError when the signal fires before the answer', async () => {
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 30);
    await expect(httpFetch(`${base}/hang`, { signal: ctl.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('rejects at once for a signal that is already aborted', async () => {
    await expect(httpFetch(`${base}/echo`, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('reports a refused connection and a cut-off answer as TypeError("fetch failed"), as undici does', async () => {
    await expect(httpFetch('http://127.0.0.1:1/x')).rejects.toMatchObject({ name: 'TypeError', message: 'fetch failed' });
    await expect(httpFetch(`${base}/half`)).rejects.toMatchObject({ name: 'TypeError', message: 'fetch failed' });
  });

  it('refuses bodies it cannot send instead of sending them wrong', async () => {
    await expect(httpFetch(`${base}/echo`, { method: 'POST', body: new URLSearchParams('a=1') })).rejects.toThrow(/string or byte bodies/);
  });
});
