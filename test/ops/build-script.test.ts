import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// `npm test` builds before it runs the tests; `prepare` (which `npx tutorgate` runs in the
// background) must then find dist/ up to date and leave it alone (scripts/build.mjs).
const root = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const build = (flag: string) => run(process.execPath, ['scripts/build.mjs', flag], { cwd: root });

describe('scripts/build.mjs', () => {
  it('finds the dist/ that `npm test` built up to date, so `prepare` leaves it in place', async () => {
    const before = statSync(root + 'dist/cli.js');
    await expect(build('--check')).resolves.toMatchObject({ stdout: 'dist/ is up to date\n' });
    await expect(build('--if-stale')).resolves.toMatchObject({ stdout: 'dist/ is up to date\n' });
    const after = statSync(root + 'dist/cli.js');
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  });
});
