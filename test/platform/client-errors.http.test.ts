import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

// Requests Node's HTTP parser refuses before Fastify has a request to route (oversized
// headers, a malformed request line or header) are answered on the socket itself.
describe('requests the HTTP parser refuses', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await createTestApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
  });
  afterAll(async () => t.close());

  // Everything the server writes before it closes the connection.
  const exchange = (data: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(data));
      let out = '';
      socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
      socket.on('close', () => resolve(out));
      socket.on('error', reject);
    });

  const parse = (raw: string) => {
    const [head, body] = raw.split('\r\n\r\n', 2) as [string, string];
    const [statusLine, ...lines] = head.split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    return { status: Number(statusLine!.split(' ')[1]), headers, body: JSON.parse(body) as Record<string, unknown> };
  };

  it.each([
    ['headers over the size limit', `GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
    ['a malformed request line', 'NOT HTTP\r\n\r\n', 400, 'bad_request'],
    ['a malformed Content-Length', 'POST /v1/progress/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 400, 'bad_request'],
  ])('answers %s as problem+json with a code', async (_name, request, status, code) => {
    const r = parse(await exchange(request));
    expect(r.status).toBe(status);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(r.headers['connection']).toBe('close');
    expect(r.body).toMatchObject({ type: `urn:tutorgate:problem:${code}`, status, code, detail: expect.any(String), requestId: expect.any(String) });
  });
});
