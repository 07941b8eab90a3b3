import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../../src/llm/simulator/index.js';
import type { Simulator } from '../../src/llm/simulator/types.js';
import { openTestStore, type TestStore } from '../helpers/databases.js';
import { startService, type ServiceProcess } from '../e2e/service-process.js';

// Periodic jobs of the compiled service, two instances on one Postgres, each killed and
// restarted as a deploy or a crash does.

const SIM_KEY = 'sk-ant-.jobs-0123456789abcdefSECRETKEY';
const HOUR = 3_600_000;
const RAN = 'grading calibration run';
const SKIPPED = 'calibration period already run by an instance';

const count = (text: string, needle: string) => text.split(needle).length - 1;

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('scheduled calibration with two instances that restart', () => {
  let ts: TestStore;
  let sim: Simulator;
  let dir: string;
  let env: Record<string, string>;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    ts = await openTestStore('postgres');
    sim = await startSimulator({ apiKey: SIM_KEY });
    dir = mkdtempSync(join(tmpdir(), 'tg-jobs-'));
    const policy = join(dir, 'policy.yaml');
    // An hour-long period: no instance lives through one in this test.
    writeFileSync(policy, 'grading:\n  calibrationEvery: 1h\n');
    // LOG_LEVEL info: the schedule says on each try whether it ran or found the period taken.
    env = { DATABASE_URL: ts.url, ANTHROPIC_API_KEY: SIM_KEY, ANTHROPIC_BASE_URL: sim.url, TUTORGATE_POLICY: policy, TUTORGATE_DATA_DIR: dir, LOG_LEVEL: 'info' };
  }, 60_000);

  afterAll(async () => {
    await Promise.all(services.map((s) => s.kill()));
    await sim?.close();
    await ts?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const claims = async () => (await ts.store.db.selectFrom('notifications_sent').select('key').where('key', 'like', `job:calibration:${HOUR}:%`).execute()).length;
  const rubrics = async () => (await ts.store.db.selectFrom('rubrics').select('id').distinct().execute()).length;
  const runs = () => services.reduce((n, s) => n + count(s.output(), RAN), 0);

  it('calibrates the current period once, not after a whole period of uptime, and a restart within the period does not run it again', { timeout: 120_000 }, async () => {
    services.push(...(await Promise.all([startService(env), startService(env)])));
    const perPeriod = await rubrics();
    expect(perPeriod).toBeGreaterThan(0);
    // Both instances try the period at start-up; one claims it and calibrates every rubric.
    await until('a calibration of every rubric', async () => (await claims()) > 0 && runs() >= perPeriod * (await claims()));
    await until('the other instance to find the period taken', () => services.some((s) => s.output().includes(SKIPPED)));
    expect(runs()).toBe(perPeriod * (await claims()));

    // Both killed and started again within the period (a crash, a deploy): nothing runs twice.
    for (const s of services) await s.kill('SIGKILL');
    const restarted = await Promise.all([startService(env), startService(env)]);
    services.push(...restarted);
    for (const s of restarted) await until('the restarted instance to try the period', () => s.output().includes(SKIPPED) || s.output().includes(RAN));
    await until('the runs of any new period to finish', async () => runs() >= perPeriod * (await claims()));
    expect(runs()).toBe(perPeriod * (await claims()));
  });
});
