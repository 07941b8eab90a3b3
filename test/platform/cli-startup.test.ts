import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { runCli } from '../helpers/cli-process.js';
import { startService } from '../e2e/service-process.js';

// The real CLI (built by `npm run build`), on failures at start-up: a process must either
// serve or exit with one line naming what is wrong, never linger half-started.
const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

const dir = () => mkdtempSync(join(tmpdir(), 'tg-cli-'));
// A port nothing listens on: connections are refused at once.
const DEAD_REDIS = 'redis://127.0.0.1:1';

const run = (args: string[], env: Record<string, string>, timeoutMs = 20_000) => runCli(args, env, timeoutMs);

describe('the CLI at start-up', { timeout: 60_000 }, () => {
  it('serve exits 1 with one line naming the variable when start-up fails after the store is open', async () => {
    const d = dir();
    const r = await run(['serve'], { DATABASE_URL: `sqlite:${d}/t.db`, TUTORGATE_DATA_DIR: d, PORT: String(await freePort()), ANTHROPIC_API_KEY_FILE: `${d}/missing-key` }, 15_000);
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n')).toEqual([expect.stringMatching(/^tutorgate: cannot read ANTHROPIC_API_KEY_FILE/)]);
  });

  it('serve and the commands exit 1 with one line naming DATABASE_URL, HOST or PORT when that value cannot be used', async () => {
    // These passed validation and failed later with the bare error of the driver or of
    // listen ("connect ECONNREFUSED 127.0.0.1:1", "listen EADDRINUSE …"), naming no variable.
    const d = dir();
    writeFileSync(`${d}/notes.txt`, 'not a database\n');
    const base = { TUTORGATE_DATA_DIR: d, PORT: String(await freePort()) };
    const oneLine = (r: { code: number | null; err: string }, pattern: RegExp) => {
      expect(r.code, r.err).toBe(1);
      expect(r.err.trim().split('\n')).toEqual([expect.stringMatching(pattern)]);
      expect(r.err).not.toContain('SECRET'); // the URL's password
    };
    oneLine(await run(['serve'], { ...base, DATABASE_URL: `sqlite:${d}/notes.txt` }), /^tutorgate: DATABASE_URL: cannot open the database \(file is not a database\)$/);
    oneLine(await run(['serve'], { ...base, DATABASE_URL: 'postgres://tg:pw-SECRET@127.0.0.1:1/tg' }), /^tutorgate: DATABASE_URL: cannot open the database \(connect ECONNREFUSED 127\.0\.0\.1:1\)$/);
    oneLine(await run(['users', 'create', '--id', 'x'], { DATABASE_URL: 'postgres://tg:pw-SECRET@127.0.0.1:1/tg' }), /^tutorgate: DATABASE_URL: cannot open the database/);
    oneLine(await run(['migrate', 'status'], { DATABASE_URL: `sqlite:${d}/notes.txt` }), /^tutorgate: DATABASE_URL: cannot open the database/);

    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as { port: number }).port;
      oneLine(await run(['serve'], { ...base, DATABASE_URL: `sqlite:${d}/t.db`, HOST: '127.0.0.1', PORT: String(port) }), new RegExp(`^tutorgate: PORT: cannot listen on 127\\.0\\.0\\.1 port ${port} \\(.*EADDRINUSE`));
    } finally {
      taken.close();
    }
    // 192.0.2.1 (TEST-NET-1) is no address of this machine
    oneLine(await run(['serve'], { ...base, DATABASE_URL: `sqlite:${d}/t.db`, HOST: '192.0.2.1' }), /^tutorgate: HOST: cannot listen on 192\.0\.2\.1 port \d+ \(.*EADDRNOTAVAIL/);
  });

  it('grade-batch that fails exits 1 with one line, every time', async () => {
    // The store's checkpoint worker was unreferenced while the store closed in a finally, so
    // Node usually ended the process there with code 0 and no message. Repeated because the
    // old failure depended on how fast the worker exited.
    const d = dir();
    const env = { DATABASE_URL: `sqlite:${d}/t.db`, TUTORGATE_DATA_DIR: d, ANTHROPIC_API_KEY: 'sk-ant-demo', ANTHROPIC_BASE_URL: 'http://127.0.0.1:1' };
    for (let i = 0; i < 4; i++) {
      const r = await run(['grade-batch', '--file', `${d}/missing.csv`, '--rubric', 'nope'], env);
      expect(r.code, r.err).toBe(1);
      expect(r.err.trim().split('\n')).toEqual([expect.stringMatching(/^tutorgate: Rubric not found/)]);
    }
  });

  it('grade-batch refuses a --user that is no user and no service principal, naming it, before anything is sent', async () => {
    const d = dir();
    const env = { DATABASE_URL: `sqlite:${d}/t.db`, TUTORGATE_DATA_DIR: d, ANTHROPIC_API_KEY: 'sk-ant-demo', ANTHROPIC_BASE_URL: 'http://127.0.0.1:1' };
    const r = await run(['grade-batch', '--file', `${d}/missing.csv`, '--rubric', 'demo-evaporation', '--user', 'erased.teacher@school.org'], env);
    expect(r.code, r.err).toBe(1);
    expect(r.err.trim().split('\n')).toEqual([expect.stringMatching(/^tutorgate: --user erased\.teacher@school\.org is not a user/)]);
    // A user that exists, and a service principal, pass the check (and fail later, on the missing file).
    expect((await run(['users', 'create', '--id', 'teacher@school.org'], env)).code).toBe(0);
    for (const user of ['teacher@school.org', 'system:batch']) {
      const ok = await run(['grade-batch', '--file', `${d}/missing.csv`, '--rubric', 'demo-evaporation', '--user', user], env);
      expect(ok.code).toBe(1);
      expect(ok.err).not.toMatch(/is not a user/);
      expect(ok.err).toMatch(/missing\.csv/);
    }
  });

  it('users create refuses an id the admin API could not address, with one line', async () => {
    const d = dir();
    for (const id of ['', '  bob ', 'x'.repeat(301)]) {
      const r = await run(['users', 'create', '--id', id], { DATABASE_URL: `sqlite:${d}/t.db` });
      expect(r.code, r.out).toBe(1);
      expect(r.err.trim().split('\n')).toEqual([expect.stringMatching(/^tutorgate: User id .* is not 1-200 letters, digits/)]);
    }
    const ok = await run(['users', 'create', '--id', 'alice@school.org'], { DATABASE_URL: `sqlite:${d}/t.db` });
    expect(ok.code, ok.err).toBe(0);
  });

  it('migrate with no direction applies every migration', async () => {
    const d = dir();
    const r = await run(['migrate'], { DATABASE_URL: `sqlite:${d}/t.db` });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/applied 0001-identity/);
    const again = await run(['migrate', 'status'], { DATABASE_URL: `sqlite:${d}/t.db` });
    expect(again.out).not.toMatch(/pending/);
  });

  it('cache-purge exits 1 naming REDIS_URL when Redis cannot be reached, instead of hanging', async () => {
    const r = await run(['cache-purge', 'feature:grading'], { REDIS_URL: DEAD_REDIS });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^tutorgate: REDIS_URL: cannot connect/);
  });

  it('serve with Redis unreachable still comes up: live, and unready until Redis answers', async () => {
    const d = dir();
    const port = await freePort();
    const p = spawn(process.execPath, ['bin/tutorgate.js', 'serve'], { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', DATABASE_URL: `sqlite:${d}/t.db`, TUTORGATE_DATA_DIR: d, PORT: String(port), HOST: '127.0.0.1', REDIS_URL: DEAD_REDIS }, stdio: 'ignore' });
    try {
      let health = 0;
      for (let i = 0; i < 60 && health !== 200; i++) {
        await new Promise((r) => setTimeout(r, 250));
        health = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, () => 0);
      }
      expect(health).toBe(200);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { checks: { redis: { ok: boolean } } }).checks.redis.ok).toBe(false);
    } finally {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    }
  });

  it('a release rolled back serves on the schema its successor migrated, and says so', async () => {
    // Releases only expand the schema (docs/operations.md, "Roll back"); Kysely's migrator
    // refused to start ("corrupted migrations") on finding a migration it does not carry.
    const d = dir();
    const env = { DATABASE_URL: `sqlite:${d}/t.db`, TUTORGATE_DATA_DIR: d };
    expect((await run(['migrate', 'up'], env)).code).toBe(0);
    const db = new Database(`${d}/t.db`);
    db.prepare('insert into kysely_migration (name, timestamp) values (?, ?)').run('9999-from-a-newer-release', new Date().toISOString());
    db.close();
    const up = await run(['migrate', 'up'], env);
    expect([up.code, up.out.trim()]).toEqual([0, 'nothing to do: a newer release has applied 9999-from-a-newer-release']);
    expect((await run(['migrate', 'status'], env)).out).toMatch(/^applied\t9999-from-a-newer-release\t\(by a newer release\)$/m);
    const svc = await startService(env);
    try {
      expect((await fetch(`${svc.url}/readyz`)).status).toBe(200);
      expect(svc.output()).toMatch(/the database was migrated by a newer release/);
    } finally {
      await svc.kill('SIGTERM');
    }
  });
});
