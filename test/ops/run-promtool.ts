import { spawnSync } from 'node:child_process';

export interface PromtoolResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

// The ops tests exist to prove the files are valid for the real Prometheus tooling, so a
// missing promtool is a failure with a fix, never a skip (CI installs it).
export function runPromtool(args: string[], opts: { input?: string; cwd?: string } = {}): PromtoolResult {
  const bin = process.env.PROMTOOL ?? 'promtool';
  const res = spawnSync(bin, args, { input: opts.input, cwd: opts.cwd, encoding: 'utf8', timeout: 60_000 });
  if (res.error && (res.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`promtool not found (looked for "${bin}"): install it with "apt-get install -y prometheus" or set PROMTOOL=/path/to/promtool`);
  }
  if (res.error) throw res.error;
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}
