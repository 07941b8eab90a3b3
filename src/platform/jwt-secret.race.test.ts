import * as fs from 'node:fs';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from './config.js';
import { resolveJwtSecret } from './jwt-secret.js';

// The race, made deterministic: this process reads no secret file, and another process
// (simulated) creates one before this one writes its own.
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return { ...real, readFileSync: vi.fn(real.readFileSync) };
});

describe('resolveJwtSecret with two processes starting at once on a fresh data directory', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    vi.mocked(fs.readFileSync).mockReset();
  });

  it("takes the secret the other process wrote first, instead of stopping on EEXIST, and leaves no file of its own", async () => {
    const real = await vi.importActual<typeof import('node:fs')>('node:fs');
    vi.mocked(fs.readFileSync).mockImplementation(real.readFileSync as typeof fs.readFileSync);
    const dir = mkdtempSync(join(tmpdir(), 'tg-jwt-race-'));
    dirs.push(dir);
    const theirs = 'a'.repeat(64);
    vi.mocked(fs.readFileSync).mockImplementationOnce(() => {
      // This process finds nothing; meanwhile the other one writes the file.
      writeFileSync(join(dir, 'jwt-secret'), theirs + '\n', { mode: 0o600 });
      throw Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' });
    });
    expect(resolveJwtSecret(parseConfig({ TUTORGATE_DATA_DIR: dir }))).toBe(theirs);
    expect(readdirSync(dir)).toEqual(['jwt-secret']);
  });

  it('does not take an unreadable secret file for a missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-jwt-race-'));
    dirs.push(dir);
    vi.mocked(fs.readFileSync).mockImplementationOnce(() => {
      throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    });
    expect(() => resolveJwtSecret(parseConfig({ TUTORGATE_DATA_DIR: dir }))).toThrow(/EACCES/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
