import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
import { resolveJwtSecret } from './jwt-secret.js';

describe('resolveJwtSecret', () => {
  const dirs: string[] = [];
  const dataDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'tg-jwt-secret-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('generates a secret once, readable by the owner only, and reads the same one back', () => {
    const config = parseConfig({ TUTORGATE_DATA_DIR: dataDir() });
    const secret = resolveJwtSecret(config)!;
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(statSync(join(config.TUTORGATE_DATA_DIR, 'jwt-secret')).mode & 0o777).toBe(0o600);
    expect(resolveJwtSecret(config)).toBe(secret);
  });

  it('refuses a secret file shorter than TUTORGATE_JWT_SECRET may be (32 characters), naming the file, never the value', () => {
    // A file restored from a bad backup, written by hand, or left empty by a crash between
    // its creation and its write: a short one was an HS256 key anyone could brute-force,
    // an empty one stopped start-up saying no secret was configured.
    for (const content of ['hunter2\n', '', 'x'.repeat(31)]) {
      const dir = dataDir();
      writeFileSync(join(dir, 'jwt-secret'), content, { mode: 0o600 });
      const config = parseConfig({ TUTORGATE_DATA_DIR: dir });
      let message = '';
      try {
        resolveJwtSecret(config);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, JSON.stringify(content)).toMatch(/jwt-secret.*32 characters/);
      if (content) expect(message).not.toContain(content.trim());
      expect(readFileSync(join(dir, 'jwt-secret'), 'utf8')).toBe(content); // left for the operator to look at
    }
  });

  it('does not look at the data directory when a secret or a JWKS is configured', () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'jwt-secret'), 'short');
    expect(resolveJwtSecret(parseConfig({ TUTORGATE_DATA_DIR: dir, TUTORGATE_JWT_SECRET: 's'.repeat(32) }))).toBe('s'.repeat(32));
    expect(resolveJwtSecret(parseConfig({ TUTORGATE_DATA_DIR: dir, TUTORGATE_JWKS_URL: 'https://idp.example/jwks.json' }))).toBeUndefined();
  });
});
