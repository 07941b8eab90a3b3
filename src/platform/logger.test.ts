import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

// The service logs no request headers today, so the secret scan in test/security cannot see
// a redaction path go missing: this checks each path on a line that carries the secret.
function capture() {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger('info', out), lines };
}

const SECRET = 'tg_live_0123456789abcdefSECRET';

describe('logger redaction', () => {
  it('censors every credential-bearing field, wherever the service may log it', () => {
    const { logger, lines } = capture();
    logger.info({
      req: { method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${SECRET}`, cookie: `s=${SECRET}`, 'x-api-key': SECRET, 'tutorgate-signature': SECRET, accept: 'application/json' } },
      res: { statusCode: 200, headers: { 'set-cookie': `s=${SECRET}` } },
      headers: { authorization: `Bearer ${SECRET}` },
      apiKey: SECRET,
      key: SECRET,
      secret: SECRET,
      token: SECRET,
      password: SECRET,
      nested: { apiKey: SECRET, secret: SECRET, token: SECRET },
    }, 'request');
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(SECRET);
    const line = JSON.parse(lines[0]!);
    expect(line.req.headers).toEqual({ authorization: '[redacted]', cookie: '[redacted]', 'x-api-key': '[redacted]', 'tutorgate-signature': '[redacted]', accept: 'application/json' });
    expect(line.res.headers['set-cookie']).toBe('[redacted]');
    expect(line.headers.authorization).toBe('[redacted]');
    for (const f of ['apiKey', 'key', 'secret', 'token', 'password']) expect(line[f], f).toBe('[redacted]');
    expect(line.nested).toEqual({ apiKey: '[redacted]', secret: '[redacted]', token: '[redacted]' });
    expect(line).toMatchObject({ msg: 'request', service: 'tutorgate', req: { method: 'GET', url: '/v1/me' } });
  });
});
