import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadPolicy } from '../../src/platform/policy.js';

// No Docker engine in development or unit CI: these checks keep the deployment files
// consistent with the code and with each other by reading them.
const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string) => readFileSync(root + p, 'utf8');

describe('deploy files', () => {
  it.each(['deploy/policy.example.yaml', 'deploy/policy.small-school.yaml'])('%s is a policy the service accepts', (file) => {
    const policy = loadPolicy(root + file);
    expect(policy.alerts.rules.length).toBeGreaterThan(0);
  });

  it('the example policy documents every section of the policy schema', async () => {
    const { policySchema } = await import('../../src/platform/policy.schema.js');
    const example = parse(read('deploy/policy.example.yaml')) as Record<string, unknown>;
    expect(Object.keys(example).sort()).toEqual(Object.keys(policySchema.shape).sort());
  });

  it("every alert's runbook link lands on a heading of docs/operations.md", () => {
    // GitHub's heading anchors: lower case, punctuation dropped, each space a hyphen.
    const slug = (h: string) => h.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');
    const anchors = new Set(read('docs/operations.md').split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => slug(l.replace(/^#+ /, ''))));
    const links = [...read('deploy/prometheus/alerts.yml').matchAll(/runbook: docs\/operations\.md#(\S+)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(5);
    expect(links.filter((a) => !anchors.has(a))).toEqual([]);
  });

  it('Prometheus scrapes every app instance of the compose file', () => {
    const compose = parse(read('deploy/compose.yaml'), { merge: true }) as { services: Record<string, { command?: string[]; environment?: Record<string, string> }> };
    const apps = Object.entries(compose.services)
      .filter(([, s]) => s.environment?.DATABASE_URL !== undefined)
      .map(([name]) => `${name}:3000`);
    const prom = parse(read('deploy/prometheus/prometheus.yml')) as { scrape_configs: { static_configs: { targets: string[] }[] }[] };
    const targets = prom.scrape_configs.flatMap((s) => s.static_configs.flatMap((c) => c.targets));
    expect(apps).toHaveLength(2);
    expect(targets.sort()).toEqual(apps.sort());
    // Exactly one instance runs the built-in evaluator, so each alert is sent once.
    expect(Object.values(compose.services).filter((s) => s.environment?.TUTORGATE_ALERT_EVALUATOR === 'on')).toHaveLength(1);
  });

  it("the runbook's docker run mounts the Anthropic key's directory, so a rotation (a file renamed over it) reaches the container", () => {
    // A bind mount of the file alone stays on the file it was started with: after the
    // runbook's rotation the instance kept the old key through every SIGHUP.
    const run = read('docs/operations.md').match(/^docker run (?:[^\n]*\\\n)*[^\n]*/m)?.[0].replace(/\\\n/g, ' ');
    expect(run).toBeDefined();
    const keyFile = run!.match(/-e ANTHROPIC_API_KEY_FILE=(\S+)/)?.[1];
    const targets = [...run!.matchAll(/-v \S+?:(\/[^\s:]*)/g)].map((m) => m[1]);
    expect(keyFile).toBeDefined();
    expect(targets).toContain(posix.dirname(keyFile!));
    expect(targets).not.toContain(keyFile);
  });

  it('the compose instances can follow the rotation procedures: key file directory mounted, both variables passed through', () => {
    const compose = parse(read('deploy/compose.yaml'), { merge: true }) as { services: Record<string, { volumes?: string[]; environment?: Record<string, string> }> };
    const apps = Object.values(compose.services).filter((s) => s.environment?.DATABASE_URL !== undefined);
    expect(apps).toHaveLength(2);
    for (const app of apps) {
      expect(Object.keys(app.environment!)).toEqual(expect.arrayContaining(['ANTHROPIC_API_KEY_FILE', 'TUTORGATE_JWT_SECRET_PREVIOUS']));
      expect(app.volumes).toContain('./secrets:/run/secrets:ro');
    }
    expect(existsSync(root + 'deploy/secrets/.gitignore')).toBe(true);
  });

  it('every TUTORGATE_ or ANTHROPIC_ variable the docs and deploy files name is one the service reads, and README lists them all', async () => {
    const { CONFIG_VARIABLES } = await import('../../src/platform/config.js');
    const files = ['README.md', 'Dockerfile', 'deploy/compose.yaml', ...readdirSync(root + 'docs').filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const named = new Set(files.flatMap((f) => [...read(f).matchAll(/\b(?:TUTORGATE|ANTHROPIC)_[A-Z0-9_]*[A-Z0-9]\b/g)].map((m) => m[0])));
    const unknown = [...named].filter((v) => !CONFIG_VARIABLES.includes(v));
    expect(unknown).toEqual([]);
    const readme = read('README.md');
    expect(CONFIG_VARIABLES.filter((v) => !readme.includes(`\`${v}\``))).toEqual([]);
  });

  it("compose's stop_grace_period outlasts the instances' drain, so Docker does not kill it", () => {
    const compose = parse(read('deploy/compose.yaml'), { merge: true }) as { services: Record<string, { stop_grace_period?: string; environment?: Record<string, string> }> };
    const apps = Object.values(compose.services).filter((s) => s.environment?.DATABASE_URL !== undefined);
    expect(apps).toHaveLength(2);
    for (const app of apps) {
      const drainMs = Number(/^\$\{TUTORGATE_SHUTDOWN_TIMEOUT_MS:-(\d+)\}$/.exec(app.environment!.TUTORGATE_SHUTDOWN_TIMEOUT_MS ?? '')?.[1]);
      const graceMs = Number(/^(\d+)s$/.exec(app.stop_grace_period ?? '')?.[1]) * 1000;
      expect(drainMs).toBeGreaterThan(0);
      expect(graceMs).toBeGreaterThan(drainMs);
    }
  });

  it('everything the Dockerfile copies from the context exists and is not excluded by .dockerignore', () => {
    const sources = [...read('Dockerfile').matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src', 'bin']));
    for (const s of sources) {
      expect(existsSync(root + s), s).toBe(true);
      expect(ignored, s).not.toContain(s);
    }
  });
});
