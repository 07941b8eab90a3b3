import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PriceBook } from '../../src/features/usage/price-book.js';
import { startSimulator } from '../../src/llm/simulator/index.js';
import type { Simulator } from '../../src/llm/simulator/types.js';
import { parsePolicy } from '../../src/platform/policy.js';
import { openTestStore, type TestStore } from '../helpers/databases.js';
import { http, startService, type ServiceProcess } from '../e2e/service-process.js';
import { gradeBodies, premiumLearners, roomyPolicyFile, SCRIPTED_GRADE } from './grading-load.js';
import { expectCountersMatchLedger, readLedger } from './ledger-invariants.js';

// SIGKILL under load. The budget reservation and a pending ledger row are written in one
// transaction before each upstream call and settled after it; a process killed in
// between leaves pending rows that the next start-up settles at their reserved
// (worst-case) amount once they are older than the 10-minute cut-off.
//
// How the cut-off is crossed: a child process's clock cannot be injected, so after the
// first restart (which must leave the fresh rows alone: they could belong to a live
// instance) the test moves the pending rows' created_at back 11 minutes in SQL and
// starts the service once more. That runs the real start-up reconciliation of the
// compiled binary (serve → reconcile(10 min)) rather than calling MeteringService in
// the test process, so the wiring operators depend on is what is proven.

const SIM_KEY = 'sk-ant-.crash-0123456789abcdefSECRETKEY';
const USERS = 5;
const PER_USER = 20;
const gradeBody = gradeBodies('attempt');

describe('crash recovery: SIGKILL mid-flight, then reconciliation at start-up', () => {
  let ts: TestStore;
  let sim: Simulator;
  let dir: string;
  let env: Record<string, string>;
  let svc: ServiceProcess | undefined;
  const keys: string[] = [];
  const pendingAtKill: string[] = [];
  const outcomes = { ok: 0, failed: 0 };

  beforeAll(async () => {
    ts = await openTestStore('postgres');
    keys.push(...(await premiumLearners(ts.store.db, 'crash-user', USERS)));
    sim = await startSimulator({ apiKey: SIM_KEY, latencyMs: 200, minCacheableTokens: 0 });
    sim.script.when('<student_answer>', { json: SCRIPTED_GRADE });
    dir = mkdtempSync(join(tmpdir(), 'tg-crash-'));
    const policy = roomyPolicyFile(dir);
    env = { DATABASE_URL: ts.url, ANTHROPIC_API_KEY: SIM_KEY, ANTHROPIC_BASE_URL: sim.url, TUTORGATE_POLICY: policy, TUTORGATE_DATA_DIR: dir };
  }, 60_000);

  afterAll(async () => {
    await svc?.kill();
    await sim?.close();
    await ts?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const pendingIds = async () => (await ts.store.db.selectFrom('usage_ledger').select('id').where('status', '=', 'pending').execute()).map((r) => r.id).sort();

  it('is killed with ~100 grading calls in flight, leaving pending reservations behind', { timeout: 60_000 }, async () => {
    svc = await startService(env);
    const base = svc.url;
    const requests = Array.from({ length: USERS * PER_USER }, (_, i) =>
      http(base, 'POST', '/v1/grading/evaluations', { token: keys[i % USERS]!, body: gradeBody(i), timeoutMs: 30_000 }).then(
        (r) => void (r.status === 200 ? outcomes.ok++ : outcomes.failed++),
        () => void outcomes.failed++,
      ),
    );
    // Kill once the upstream has answered some calls but far from all of them.
    const deadline = Date.now() + 30_000;
    while (sim.charges.length < 15 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(sim.charges.length).toBeGreaterThanOrEqual(15);
    await svc.kill('SIGKILL');
    svc = undefined;
    await Promise.all(requests);
    await new Promise((r) => setTimeout(r, 500)); // let the simulator finish (or drop) what it was answering
    expect(outcomes.failed).toBeGreaterThan(0); // some requests really died with the process
    pendingAtKill.push(...(await pendingIds()));
    expect(pendingAtKill.length).toBeGreaterThan(0);
  });

  it('a restart leaves fresh pending rows alone (they could belong to a live instance) and serves again', { timeout: 60_000 }, async () => {
    svc = await startService(env);
    expect(await pendingIds()).toEqual(pendingAtKill);
    const r = await http(svc.url, 'POST', '/v1/grading/evaluations', { token: keys[0]!, body: gradeBody(10_000) });
    expect(r.status).toBe(200);
    expect(r.json.source).toBe('llm');
    await svc.kill('SIGTERM');
    svc = undefined;
    expect(await pendingIds()).toEqual(pendingAtKill);
  });

  it('once the rows are older than the cut-off, start-up settles each at its reservation, and the books balance', { timeout: 60_000 }, async () => {
    await sql`update usage_ledger set created_at = created_at - ${11 * 60_000} where status = 'pending'`.execute(ts.store.db);
    svc = await startService(env); // healthy only after reconcile() ran: serve() reconciles before it listens
    expect(await pendingIds()).toEqual([]);

    const s = await readLedger(ts.store.db);
    const reconciled = s.rows.filter((r) => r.outcome === 'unknown_after_crash');
    expect(reconciled.map((r) => r.id).sort()).toEqual(pendingAtKill);
    for (const r of reconciled) {
      expect(r.status).toBe('settled');
      expect(r.reserved_micros).toBeGreaterThan(0);
      expect(r.cost_micros).toBe(r.reserved_micros); // charged in full: the call may have been billed
    }

    // Nothing counted twice: a message id appears at most once.
    const ids = s.rows.filter((r) => r.message_id !== null).map((r) => r.message_id!);
    expect(new Set(ids).size).toBe(ids.length);
    // Every billed upstream call has its settled row, or died with the process between the
    // upstream answer and the settle and is covered by a reconciled reservation.
    const settledIds = new Set(ids);
    for (const id of ids) expect(sim.charges.some((c) => c.id === id), `ledger message ${id} was billed upstream`).toBe(true);
    const orphans = sim.charges.filter((c) => !settledIds.has(c.id));
    expect(orphans.length).toBeLessThanOrEqual(reconciled.length);
    // ... and each reservation covers what such a call can have cost.
    const prices = new PriceBook(parsePolicy(undefined, 'built-in').prices);
    const smallestReservation = Math.min(...reconciled.map((r) => r.reserved_micros));
    for (const c of orphans) {
      const cost = prices.cost(c.model, { inputTokens: c.inputTokens, outputTokens: c.outputTokens, cacheReadTokens: c.cacheReadInputTokens, cacheWrite5mTokens: 0, cacheWrite1hTokens: c.cacheCreationInputTokens }, Date.now()).costMicros;
      expect(cost).toBeLessThanOrEqual(smallestReservation);
    }

    // Budgets: nothing held, and each counter has spent exactly what its settled rows cost.
    // One counter per user who reserved anything (which users got that far before the kill
    // depends on scheduling), plus the feature and the global counter.
    const usersWithRows = new Set(s.rows.map((r) => r.user_id)).size;
    expect(usersWithRows).toBeGreaterThan(0);
    expect(s.counters.length).toBe(usersWithRows + 2);
    expectCountersMatchLedger(s);
    // The daily roll-up (analytics, dashboard) agrees with the ledger to the micro-dollar.
    const daily = await ts.store.db.selectFrom('usage_daily').select((eb) => eb.fn.sum<number>('cost_micros').as('cost')).executeTakeFirstOrThrow();
    expect(Number(daily.cost)).toBe(s.rows.reduce((sum, r) => sum + r.cost_micros, 0));
  });

  it('after recovery the service grades with the LLM and settles normally', { timeout: 30_000 }, async () => {
    const charges = sim.charges.length;
    const r = await http(svc!.url, 'POST', '/v1/grading/evaluations', { token: keys[1]!, body: gradeBody(20_000) });
    expect(r.status).toBe(200);
    expect(r.json.source).toBe('llm');
    expect(sim.charges.length).toBe(charges + 1);
    // The service settles right after answering; this test reads the file from another process.
    const row = await vi.waitFor(() => ts.store.db.selectFrom('usage_ledger').selectAll().where('message_id', '=', sim.charges.at(-1)!.id).executeTakeFirstOrThrow(), { timeout: 5_000 });
    expect(row.status).toBe('settled');
    expect(Number(row.cost_micros) / 1e6).toBe(r.json.usage.costUsd);
    expect(await pendingIds()).toEqual([]);
    expectCountersMatchLedger(await readLedger(ts.store.db));
  });
});
