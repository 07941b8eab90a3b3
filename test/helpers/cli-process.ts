import { spawn } from 'node:child_process';

export interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

/**
 * Runs the built CLI (`npm run build`) once, with only PATH, LOG_LEVEL=warn and `env` in its
 * environment, and collects its exit code and output; killed after `timeoutMs`.
 */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['bin/tutorgate.js', ...args], { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}
