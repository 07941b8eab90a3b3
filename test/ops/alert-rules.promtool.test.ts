import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HTTP_DURATION_BUCKETS } from '../../src/platform/metrics.js';
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

  it('the unit tests feed only histogram buckets the service exports', () => {
    // A made-up bucket once let a latency alert pass its test while it could never fire.
    const tests = readFileSync(`${dir}alerts.test.yml`, 'utf8');
    const fed = [...tests.matchAll(/tutorgate_http_request_duration_seconds_bucket\{[^}]*le="([^"]+)"/g)].map((m) => m[1]);
    expect(fed.length).toBeGreaterThan(0);
    const exported = new Set([...HTTP_DURATION_BUCKETS.map(String), '+Inf']);
    expect(fed.filter((le) => !exported.has(le!))).toEqual([]);
    // The 10 s alert sits inside the finite range, so a p95 above it can read above it.
    expect(Math.max(...HTTP_DURATION_BUCKETS)).toBeGreaterThan(10);
  });

  it('prometheus.yml is a valid config that loads the rules', () => {
    const res = runPromtool(['check', 'config', 'prometheus.yml'], { cwd: dir });
    expect(res.status, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toContain('1 rule files found');
  });
});
