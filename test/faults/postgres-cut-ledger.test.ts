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
import { expectNoInternals, http, startService, type HttpResult, type ServiceProcess } from '../e2e/service-process.js';
import { expectCountersMatchLedger, readLedger } from './ledger-invariants.js';
import { gradeBodies, premiumLearners, roomyPolicyFile, SCRIPTED_GRADE } from './grading-load.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

// Postgres cut (every connection dropped, new ones refused, as in a restart or a failover)
// while grading calls are in flight upstream, then back. The compiled service runs as a
// child process with Postgres behind a proxy of ours: the shared server is untouched.
// Calls answered upstream during the cut cannot settle (books after the answer, ADR 0010):
// their pending rows must be charged at their reservation by the reconciler, once, and the
// budgets and the daily roll-up must agree with the ledger afterwards.
//
// The reconciler only settles rows older than 10 minutes (they could belong to a live call),
// so, as in crash-recovery.test.ts, the pending rows are moved back 11 minutes in SQL and the
// service is restarted: its start-up reconciliation is the real one.

const SIM_KEY = 'sk-ant-.pgcut-0123456789abcdefSECRETKEY';
const USERS = 4;
const CALLS = 80;
const gradeBody = gradeBodies('cut');

async function settleFailures(base: string): Promise<number> {
  const r = await http(base, 'GET', '/metrics', { timeoutMs: 5_000 });
  const m = /tutorgate_deferred_work_failures_total\{work="settle"\} (\d+)/.exec(r.text);
  return m ? Number(m[1]) : 0;
}

describe('Postgres cut while grading calls are in flight: answers, ledger and budgets', () => {
  let ts: TestStore;
  let proxy: TcpProxy;
  let sim: Simulator;
  let dir: string;
  let env: Record<string, string>;
  let svc: ServiceProcess | undefined;
  const keys: string[] = [];
  const answers: (HttpResult | Error)[] = [];

  beforeAll(async () => {
    ts = await openTestStore('postgres');
    keys.push(...(await premiumLearners(ts.store.db, 'pgcut-user', USERS)));
    proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(ts.url).port || 5432) });
    const url = new URL(ts.url);
    url.port = String(proxy.port);
    sim = await startSimulator({ apiKey: SIM_KEY, latencyMs: { min: 100, max: 600 }, minCacheableTokens: 0 });
    sim.script.when('<student_answer>', { json: SCRIPTED_GRADE });
    dir = mkdtempSync(join(tmpdir(), 'tg-pgcut-'));
    const policy = roomyPolicyFile(dir);
    env = { DATABASE_URL: url.toString(), ANTHROPIC_API_KEY: SIM_KEY, ANTHROPIC_BASE_URL: sim.url, TUTORGATE_POLICY: policy, TUTORGATE_DATA_DIR: dir };
  }, 60_000);

  afterAll(async () => {
    await svc?.kill();
    await sim?.close();
    await proxy?.close();
    await ts?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const pendingIds = async () => (await ts.store.db.selectFrom('usage_ledger').select('id').where('status', '=', 'pending').execute()).map((r) => r.id).sort();

  it('answers every call with a 200 or a 503 problem with Retry-After, never a 500, across the cut', { timeout: 90_000 }, async () => {
    svc = await startService(env);
    let log = '';
    svc.child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    svc.child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const base = svc.url;
    // Warm the pool: connections to cut.
    expect((await http(base, 'POST', '/v1/grading/evaluations', { token: keys[0]!, body: gradeBody(-1) })).status).toBe(200);
    const requests = Array.from({ length: CALLS }, (_, i) =>
      http(base, 'POST', '/v1/grading/evaluations', { token: keys[i % USERS]!, body: gradeBody(i), timeoutMs: 30_000 }).then(
        (r) => void answers.push(r),
        (err: Error) => void answers.push(err),
      ),
    );
    // Cut once some calls have been answered (the others are still in flight upstream) ...
    await vi.waitFor(() => expect(answers.filter((a) => !(a instanceof Error) && a.status === 200).length).toBeGreaterThanOrEqual(3), { timeout: 30_000, interval: 5 });
    expect(answers.length).toBeLessThan(CALLS);
    proxy.cut();
    // ... and restore only once some answered call has failed to write its books.
    await vi.waitFor(async () => expect(await settleFailures(base)).toBeGreaterThan(0), { timeout: 30_000, interval: 20 });
    proxy.restore();
    await Promise.all(requests);

    expect(svc.child.exitCode, `the service exited:\n${svc.output().slice(-2000)}`).toBeNull();
    const statuses: Record<string, number> = {};
    for (const a of answers) {
      if (a instanceof Error) throw new Error(`a request got no answer: ${a.name} ${a.message}`);
      statuses[a.status] = (statuses[a.status] ?? 0) + 1;
      if (a.status === 200) {
        expect(['llm', 'rules']).toContain(a.json.source);
      } else {
        expect(a.status, `${a.status}: ${a.text.slice(0, 300)}\n${log.split("\n").filter((l) => l.includes(String(a.json?.requestId))).join("\n")}`).toBe(503);
        expect(a.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(Number(a.headers.get('retry-after'))).toBeGreaterThan(0);
        expectNoInternals(a.text);
      }
    }
    expect(statuses['200'] ?? 0, JSON.stringify(statuses)).toBeGreaterThan(0);

    // Back to normal once Postgres is: an LLM grade that settles.
    const after = await vi.waitFor(async () => {
      const r = await http(base, 'POST', '/v1/grading/evaluations', { token: keys[1]!, body: gradeBody(10_000) });
      expect(r.status).toBe(200);
      return r;
    }, { timeout: 30_000, interval: 200 });
    expect(after.json.source).toBe('llm');
    // Every answered call has had its settle attempted (SIGTERM drains the deferred work).
    await svc.kill('SIGTERM');
    svc = undefined;
    expect((await pendingIds()).length, 'settlements that failed during the cut left pending rows').toBeGreaterThan(0);
  });

  it('after reconciliation the ledger holds every upstream charge once, failed settlements at their reservation, and the budgets and roll-up agree', { timeout: 60_000 }, async () => {
    const pendingBefore = await pendingIds();
    await sql`update usage_ledger set created_at = created_at - ${11 * 60_000} where status = 'pending'`.execute(ts.store.db);
    svc = await startService(env); // serve() reconciles before it listens
    expect(await pendingIds()).toEqual([]);

    const s = await readLedger(ts.store.db);
    expect(s.rows.filter((r) => r.status !== 'settled')).toEqual([]);
    const reconciled = s.rows.filter((r) => r.outcome === 'unknown_after_crash');
    expect(reconciled.map((r) => r.id).sort()).toEqual(pendingBefore);
    for (const r of reconciled) {
      expect(r.reserved_micros).toBeGreaterThan(0);
      expect(r.cost_micros, `row ${r.id} charged at its reservation`).toBe(r.reserved_micros);
    }

    // Nothing counted twice: a message id appears at most once, and only if it was billed.
    const ids = s.rows.filter((r) => r.message_id !== null).map((r) => r.message_id!);
    expect(new Set(ids).size, 'message ids are unique in the ledger').toBe(ids.length);
    const charged = new Set(sim.charges.map((c) => c.id));
    expect(charged.size).toBe(sim.charges.length);
    for (const id of ids) expect(charged.has(id), `ledger message ${id} was billed upstream`).toBe(true);
    // Nothing lost: every billed call is in the ledger by its id, or its settlement failed and
    // a reconciled reservation (one per call) stands for it and covers what it cost.
    const inLedger = new Set(ids);
    const orphans = sim.charges.filter((c) => !inLedger.has(c.id));
    expect(orphans.length).toBeGreaterThan(0);
    expect(orphans.length).toBeLessThanOrEqual(reconciled.length);
    const prices = new PriceBook(parsePolicy(undefined, 'built-in').prices);
    const smallest = Math.min(...reconciled.map((r) => r.reserved_micros));
    for (const c of orphans) {
      const cost = prices.cost(c.model, { inputTokens: c.inputTokens, outputTokens: c.outputTokens, cacheReadTokens: c.cacheReadInputTokens, cacheWrite5mTokens: 0, cacheWrite1hTokens: c.cacheCreationInputTokens }, Date.now()).costMicros;
      expect(cost).toBeLessThanOrEqual(smallest);
    }
    // A settled call without a reconciled reservation cost what the upstream billed it.
    for (const r of s.rows.filter((x) => x.message_id !== null)) {
      const c = sim.charges.find((x) => x.id === r.message_id)!;
      expect(r.tokens, `tokens of ${r.message_id}`).toEqual({ input: c.inputTokens, output: c.outputTokens, cacheCreation: c.cacheCreationInputTokens, cacheRead: c.cacheReadInputTokens });
    }

    // Budgets: nothing held, each counter has spent exactly what its settled rows cost.
    expectCountersMatchLedger(s);
    // The daily roll-up agrees with the ledger to the micro-dollar.
    const daily = await ts.store.db.selectFrom('usage_daily').select((eb) => eb.fn.sum<number>('cost_micros').as('cost')).executeTakeFirstOrThrow();
    expect(Number(daily.cost)).toBe(s.rows.reduce((sum, r) => sum + r.cost_micros, 0));
  });
});
