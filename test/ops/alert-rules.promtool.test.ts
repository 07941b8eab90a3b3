import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runPromtool } from './run-promtool.js';

const dir = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));

describe('deploy/prometheus', () => {
  it('alerts.yml is a valid rule file', () => {
    const res = runPromtool(['check', 'rules', 'alerts.yml'], { cwd: dir });
    expect(res.status, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toContain('SUCCESS');
  });

  it('every alert behaves as its unit tests in alerts.test.yml expect', () => {
    const res = runPromtool(['test', 'rules', 'alerts.test.yml'], { cwd: dir });
    expect(res.status, res.stdout + res.stderr).toBe(0);
  });

  it('prometheus.yml is a valid config that loads the rules', () => {
    const res = runPromtool(['check', 'config', 'prometheus.yml'], { cwd: dir });
    expect(res.status, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toContain('1 rule files found');
  });
});
