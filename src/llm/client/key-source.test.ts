import { describe, expect, it } from 'vitest';
import { fingerprint, loadApiKey, scrubSecrets } from './key-source.js';

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
    expect(loadApiKey({ ANTHROPIC_API_KEY_FILE: '/k' }, () => '\n')).toBeNull();
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
