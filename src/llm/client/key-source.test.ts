import { describe, expect, it } from 'vitest';
import { createAnthropicClient } from './anthropic-client.js';
import { fingerprint, loadApiKey, reloadApiKey, scrubSecrets } from './key-source.js';

// Assembled at run time: a real-looking key literal in the repo would trip secret scanners.
const KEY = ['sk', 'ant', 'api03', 'abcdefghijklmnopqrstuvwxyz0123456789', '9f2c'].join('-');

describe('loadApiKey', () => {
  it('prefers the key file (rotation rewrites it) over the variable, trimming the newline', () => {
    const files: Record<string, string> = { '/run/secrets/anthropic': `${KEY}\n` };
    expect(loadApiKey({ ANTHROPIC_API_KEY: 'sk-ant-old', ANTHROPIC_API_KEY_FILE: '/run/secrets/anthropic' }, (p) => files[p]!)).toBe(KEY);
  });
  it('falls back to the variable, and treats blanks as no key', () => {
    expect(loadApiKey({ ANTHROPIC_API_KEY: ` ${KEY} ` })).toBe(KEY);
    expect(loadApiKey({ ANTHROPIC_API_KEY: '  ' })).toBeNull();
    expect(loadApiKey({})).toBeNull();
  });
  it('an empty or whitespace-only key file throws naming the file, as an unreadable one does', () => {
    for (const text of ['', '\n', ' \t\r\n ']) {
      expect(() => loadApiKey({ ANTHROPIC_API_KEY: KEY, ANTHROPIC_API_KEY_FILE: '/run/secrets/anthropic' }, () => text)).toThrow('ANTHROPIC_API_KEY_FILE /run/secrets/anthropic is empty');
    }
  });
  it('a key with a second line, a space or a control character inside throws naming where it came from, never the key', () => {
    for (const text of [`${KEY}\n# rotated 2026-11\n`, `${KEY}\n${KEY}x\n`, `${KEY} x`, `${KEY}\u0000`]) {
      const fromFile = () => loadApiKey({ ANTHROPIC_API_KEY_FILE: '/run/secrets/anthropic' }, () => text);
      expect(fromFile).toThrow('ANTHROPIC_API_KEY_FILE /run/secrets/anthropic holds more than one word or line');
      expect(fromFile).not.toThrow(KEY);
      expect(() => loadApiKey({ ANTHROPIC_API_KEY: text })).toThrow(/^ANTHROPIC_API_KEY holds more than one word or line/);
    }
  });
  it('an unreadable file names the path and errno, never contents', () => {
    const err = () =>
      loadApiKey({ ANTHROPIC_API_KEY_FILE: '/nope/key' }, () => {
        throw Object.assign(new Error(`EACCES: ${KEY}`), { code: 'EACCES' });
      });
    expect(err).toThrow('cannot read ANTHROPIC_API_KEY_FILE /nope/key (EACCES)');
    expect(err).not.toThrow(KEY);
  });
  it('reads a real file', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'key-'));
    writeFileSync(join(dir, 'key'), KEY);
    expect(loadApiKey({ ANTHROPIC_API_KEY_FILE: join(dir, 'key') })).toBe(KEY);
  });
});

describe('reloadApiKey (SIGHUP)', () => {
  const llm = () =>
    createAnthropicClient({ apiKey: KEY, baseURL: 'http://127.0.0.1:9', models: { default: 'm' }, timeoutsMs: {}, retry: { maxRetries: 0, maxTotalMs: 1, baseDelayMs: 1 }, breaker: { failureThreshold: 1, openMs: 1, halfOpenProbes: 1 }, concurrency: { maxInFlight: 1, maxQueued: 0, queueTimeoutMs: 1 } });
  const logs = () => {
    const lines: Array<[string, object, string]> = [];
    return { lines, logger: { info: (o: object, m: string) => lines.push(['info', o, m]), error: (o: object, m: string) => lines.push(['error', o, m]) } };
  };

  it('an emptied key file keeps the current key, and says so naming the file', () => {
    const c = llm();
    const before = c.keyFingerprint();
    const { lines, logger } = logs();
    reloadApiKey(c, { ANTHROPIC_API_KEY_FILE: '/run/secrets/anthropic' }, logger, () => '\n');
    expect(c.available()).toBe(true);
    expect(c.keyFingerprint()).toBe(before);
    expect(lines).toEqual([['error', { err: { message: 'ANTHROPIC_API_KEY_FILE /run/secrets/anthropic is empty' } }, 'key reload failed; keeping the current key']]);
  });

  it('a rewritten key file replaces the key', () => {
    const c = llm();
    const next = ['sk', 'ant', 'api03', 'zyxwvutsrqponmlkjihgfedcba9876543210', '77aa'].join('-');
    const { lines, logger } = logs();
    reloadApiKey(c, { ANTHROPIC_API_KEY_FILE: '/run/secrets/anthropic' }, logger, () => `${next}\n`);
    expect(c.keyFingerprint()).toBe(fingerprint(next));
    expect(lines[0]![0]).toBe('info');
    expect(JSON.stringify(lines)).not.toContain(next);
  });
});

describe('fingerprint', () => {
  it('shows the prefix, the last 4 characters and a hash prefix, nothing more', () => {
    const fp = fingerprint(KEY);
    expect(fp).toMatch(/^sk-ant-…9f2c \(sha256:[0-9a-f]{8}\)$/);
    expect(fingerprint(KEY)).toBe(fp);
    expect(fingerprint(KEY.replace('abc', 'abd'))).not.toBe(fp);
  });
  it('shows no tail of a short key', () => {
    expect(fingerprint('short-key')).toMatch(/^…\s\(sha256:[0-9a-f]{8}\)$/);
  });
});

describe('scrubSecrets', () => {
  it('removes the given secrets and anything key-like', () => {
    const other = 'sk-ant-api03-ZZZZZZZZZZZZ';
    const text = `401 invalid key ${KEY}; old ${other}; Authorization: Bearer abcdef123456789; {"x-api-key":"opaque-secret-value"}; custom ${'my-own-secret-1'}`;
    const out = scrubSecrets(text, ['my-own-secret-1']);
    expect(out).not.toContain(KEY);
    expect(out).not.toContain('ZZZZ');
    expect(out).not.toContain('abcdef123456789');
    expect(out).not.toContain('opaque-secret-value');
    expect(out).not.toContain('my-own-secret-1');
    expect(out).toContain('401 invalid key');
  });
  it('leaves ordinary text alone, even with tiny "secrets"', () => {
    expect(scrubSecrets('score must be an integer', ['a', ''])).toBe('score must be an integer');
  });
});
