import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

// scripts/audit.mjs runs `npm audit`; here `npm` is a stand-in on PATH that prints what
// npm 11 prints (the JSON shapes of a report and of a registry refusal) and exits as it does.
const script = fileURLToPath(new URL('../../scripts/audit.mjs', import.meta.url));
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function gate(npmJson: unknown, npmExit: number, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'audit-gate-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'out.json'), JSON.stringify(npmJson));
  const npm = join(dir, 'npm');
  writeFileSync(npm, `#!/bin/sh\n[ "$1 $2 $3" = "audit --audit-level=high --json" ] || exit 99\ncat "${join(dir, 'out.json')}"\nexit ${npmExit}\n`);
  chmodSync(npm, 0o755);
  const res = spawnSync(process.execPath, [script], { encoding: 'utf8', env: { PATH: `${dir}:${process.env.PATH}`, ...env } });
  return { status: res.status, out: res.stdout + res.stderr };
}

const counts = (c: Partial<Record<'info' | 'low' | 'moderate' | 'high' | 'critical' | 'total', number>>) => ({ info: 0, low: 0, moderate: 0, high: 0, critical: 0, total: 0, ...c });
const advisory = (name: string, severity: string) => ({
  name,
  severity,
  isDirect: false,
  via: [{ source: 1, name, dependency: name, title: `Prototype pollution in ${name}`, url: `https://github.com/advisories/GHSA-${name}`, severity, range: '<1.2.3' }],
  effects: [],
  range: '<1.2.3',
  nodes: [`node_modules/${name}`],
  fixAvailable: true,
});
const refusal = { message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk', statusCode: 405, body: '', error: { summary: '', detail: '' } };

describe('scripts/audit.mjs, the dependency audit gate', () => {
  it('passes a report with no high or critical advisory, moderate ones included', () => {
    const r = gate({ auditReportVersion: 2, vulnerabilities: { lodash: advisory('lodash', 'moderate') }, metadata: { vulnerabilities: counts({ moderate: 1, total: 1 }), dependencies: { total: 267 } } }, 0);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('267 dependencies; critical 0, high 0, moderate 1');
  });

  it('fails on a high or a critical advisory and names each', () => {
    const vulnerabilities = { 'left-pad': advisory('left-pad', 'high'), minimist: advisory('minimist', 'critical'), ms: advisory('ms', 'low') };
    const r = gate({ auditReportVersion: 2, vulnerabilities, metadata: { vulnerabilities: counts({ high: 1, critical: 1, low: 1, total: 3 }), dependencies: { total: 267 } } }, 1);
    expect(r.status, r.out).toBe(1);
    expect(r.out).toContain('high left-pad <1.2.3: Prototype pollution in left-pad');
    expect(r.out).toContain('critical minimist');
    expect(r.out).not.toContain(' ms ');
  });

  it('says plainly that no report came when the registry refuses, and passes with a warning', () => {
    const r = gate(refusal, 1);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('the audit could not run: 405 Method Not Allowed');
    expect(r.out).toContain('WARNING');
  });

  it('fails a missing report where AUDIT_REQUIRED=1 (release pipelines)', () => {
    expect(gate(refusal, 1, { AUDIT_REQUIRED: '1' }).status).toBe(1);
    const garbled = gate('npm ERR! something else went wrong', 1, { AUDIT_REQUIRED: '1' });
    expect(garbled.status, garbled.out).toBe(1);
  });
});
