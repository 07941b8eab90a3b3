import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';

describe('config', () => {
  it('has the contract defaults', () => {
    const c = parseConfig({});
    expect(c).toMatchObject({ PORT: 3000, HOST: '127.0.0.1', DATABASE_URL: 'sqlite:./data/tutorgate.db', TUTORGATE_BODY_LIMIT: 65536 });
    expect(Object.isFrozen(c)).toBe(true);
  });
  it('names the bad variable but never echoes its value', () => {
    expect(() => parseConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => parseConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    try {
      parseConfig({ TUTORGATE_JWT_SECRET: 'short-secret-value' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/TUTORGATE_JWT_SECRET/);
      expect((err as Error).message).not.toMatch(/short-secret-value/);
    }
  });
  it('takes TUTORGATE_JWT_SECRET_PREVIOUS only beside a new TUTORGATE_JWT_SECRET, at its length', () => {
    const secret = 'n'.repeat(32);
    const previous = 'p'.repeat(32);
    expect(parseConfig({ TUTORGATE_JWT_SECRET: secret, TUTORGATE_JWT_SECRET_PREVIOUS: previous }).TUTORGATE_JWT_SECRET_PREVIOUS).toBe(previous);
    // Alone it would replace nothing (and with a JWKS there is no HS256 secret at all).
    expect(() => parseConfig({ TUTORGATE_JWT_SECRET_PREVIOUS: previous })).toThrow(/^invalid configuration: TUTORGATE_JWT_SECRET_PREVIOUS: set only beside TUTORGATE_JWT_SECRET/);
    expect(() => parseConfig({ TUTORGATE_JWKS_URL: 'https://idp.example/jwks', TUTORGATE_JWT_SECRET_PREVIOUS: previous })).toThrow(/TUTORGATE_JWT_SECRET_PREVIOUS/);
    expect(() => parseConfig({ TUTORGATE_JWT_SECRET: secret, TUTORGATE_JWT_SECRET_PREVIOUS: 'short' })).toThrow(/TUTORGATE_JWT_SECRET_PREVIOUS: must be at least 32 characters/);
  });
  it('takes a JWKS only over https (http on the loopback alone: a key set read in clear can be swapped)', () => {
    for (const ok of ['https://idp.example/.well-known/jwks.json', 'http://127.0.0.1:8080/jwks', 'http://localhost/jwks', 'http://[::1]:9/jwks']) expect(parseConfig({ TUTORGATE_JWKS_URL: ok }).TUTORGATE_JWKS_URL, ok).toBe(ok);
    for (const bad of ['http://idp.example/jwks', 'http://127.0.0.1.evil.example/jwks', 'http://localhost.evil.example/', 'ftp://idp.example/jwks']) expect(() => parseConfig({ TUTORGATE_JWKS_URL: bad }), bad).toThrow(/TUTORGATE_JWKS_URL: expected an https:\/\/ URL/);
  });
  it('takes proxy addresses Fastify can trust, and names the variable for anything else', () => {
    expect(parseConfig({ TUTORGATE_TRUST_PROXY: '10.0.0.1, 10.0.0.0/8, ::1, fd00::/8, loopback' }).TUTORGATE_TRUST_PROXY).toEqual(['10.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', 'loopback']);
    for (const bad of ['notanip', '10.0.0.0/33', '10.0.0.1/8/8', '999.1.1.1']) expect(() => parseConfig({ TUTORGATE_TRUST_PROXY: bad }), bad).toThrow(/TUTORGATE_TRUST_PROXY/);
  });
  it('reads numbers as whole decimals only, and a blank value as unset', () => {
    expect(parseConfig({ PORT: ' ' }).PORT).toBe(3000); // was 0: a random port
    expect(parseConfig({ PORT: '8080' }).PORT).toBe(8080);
    for (const bad of ['0x50', '1e3', '80.0', '-1', '+80']) expect(() => parseConfig({ PORT: bad }), bad).toThrow(/PORT: expected a whole number|PORT/);
    expect(() => parseConfig({ PORT: '0x50' })).toThrow(/PORT: expected a whole number/);
    // A shutdown wait longer than a timer can hold fired at once (TimeoutOverflowWarning).
    expect(() => parseConfig({ TUTORGATE_SHUTDOWN_TIMEOUT_MS: '3000000000' })).toThrow(/TUTORGATE_SHUTDOWN_TIMEOUT_MS/);
    expect(parseConfig({ TUTORGATE_SHUTDOWN_TIMEOUT_MS: '30000' }).TUTORGATE_SHUTDOWN_TIMEOUT_MS).toBe(30_000);
  });
  it('refuses a DATABASE_URL the store could not read as meant, naming it but not the password', () => {
    // A password with an unencoded '/', '?' or '#' (openssl rand -base64 makes them) cuts the
    // URL short: pg then failed at the first query with a bare "Invalid URL", or ('#' after
    // digits) connected to another host and port.
    for (const bad of ['postgres://app:pa/ss0rd@db:5432/tg', 'postgres://app:pa?ss0rd@db/tg', 'postgres://app:pa#ss0rd@db/tg', 'postgres://app:1234#ss0rd@db/tg', 'sqlite:']) {
      let message = '';
      try {
        parseConfig({ DATABASE_URL: bad });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, bad).toMatch(/^invalid configuration: DATABASE_URL: /);
      expect(message, bad).not.toMatch(/ss0rd/);
    }
    for (const good of ['postgres://app:pa%2Fss%23@db:5432/tg', 'postgres://app:p@ss@db/tg', 'postgresql://app@/tg?host=/var/run/postgresql', 'postgres://[::1]:5432/tg', 'sqlite::memory:', 'sqlite:/app/data/tg.db']) {
      expect(parseConfig({ DATABASE_URL: good }).DATABASE_URL, good).toBe(good);
    }
  });
  it('takes an http(s) ANTHROPIC_BASE_URL only, the one kind the SDK can call', () => {
    for (const bad of ['ftp://api.example.org', 'file:///etc/passwd', 'api.anthropic.com']) {
      expect(() => parseConfig({ ANTHROPIC_BASE_URL: bad }), bad).toThrow(/^invalid configuration: ANTHROPIC_BASE_URL: expected an http:\/\/ or https:\/\/ URL$/);
    }
    expect(parseConfig({ ANTHROPIC_BASE_URL: 'http://127.0.0.1:4010' }).ANTHROPIC_BASE_URL).toBe('http://127.0.0.1:4010');
    expect(parseConfig({ ANTHROPIC_BASE_URL: 'https://api.anthropic.com' }).ANTHROPIC_BASE_URL).toBe('https://api.anthropic.com');
  });

  it('refuses both a key and a key file', () => {
    expect(() => parseConfig({ ANTHROPIC_API_KEY: 'k', ANTHROPIC_API_KEY_FILE: '/f' })).toThrow(/ANTHROPIC_API_KEY_FILE/);
  });
});
