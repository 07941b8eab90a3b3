import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheKey, userTag } from '../../src/features/cache/cache-key.js';
import { AdminSessionRepository } from '../../src/features/dashboard/admin-session.repository.js';
import { FlagsRepository } from '../../src/features/flags/flags.repository.js';
import { demoCatalog } from '../../src/features/learning-path/catalog-provider.js';
import { budgetLines } from '../../src/features/usage/budget-policy.js';
import type { MeteredCall } from '../../src/features/usage/metering.service.js';
import type { Db } from '../../src/platform/db/database.js';
import { userHash } from '../../src/platform/pseudonym.js';
import { STORE_KINDS } from '../helpers/databases.js';
import { bearer, createTestApp, type TestApp } from '../helpers/test-app.js';

// The learner to erase has an `_` in their id, and the bystander's id differs from it only
// there: a LIKE pattern left unescaped (budget counter keys) would erase the bystander too.
const VICTIM = 'erase_me.learner@example.org';
const BYSTANDER = 'eraseXme.learner@example.org';
const VICTIM_ANSWER = 'Plants turn sunlight into sugar; my secret diary note 4417.';
const BYSTANDER_ANSWER = 'Chlorophyll absorbs light energy, bystander answer 9931.';

// Every row of every table, as text: what the erasure must leave without the victim's id.
async function everyRow(db: Db, dialect: 'sqlite' | 'postgres'): Promise<Map<string, string>> {
  const tables =
    dialect === 'sqlite'
      ? (await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`.execute(db)).rows.map((r) => r.name)
      : (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(db)).rows.map((r) => r.name);
  const out = new Map<string, string>();
  for (const t of tables) out.set(t, JSON.stringify((await sql`select * from ${sql.table(t)}`.execute(db)).rows));
  return out;
}

// What the books say, whoever the rows name: nothing may move when a user is erased.
async function totals(db: Db) {
  const ledger = await db
    .selectFrom('usage_ledger')
    .select([sql<number>`count(*)`.as('rows'), sql<number>`sum(cost_micros)`.as('cost'), sql<number>`sum(input_tokens + output_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens)`.as('tokens')])
    .executeTakeFirstOrThrow();
  const daily = await db
    .selectFrom('usage_daily')
    .select(['day', 'feature', 'model', sql<number>`sum(calls)`.as('calls'), sql<number>`sum(cost_micros)`.as('cost'), sql<number>`sum(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens)`.as('tokens')])
    .groupBy(['day', 'feature', 'model'])
    .orderBy('day')
    .orderBy('feature')
    .orderBy('model')
    .execute();
  const shared = await db.selectFrom('budget_counters').select(['key', 'spent_micros', 'reserved_micros']).where('key', 'not like', 'user:%').orderBy('key').execute();
  const num = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v]));
  return { ledger: num(ledger), daily: daily.map(num), shared: shared.map(num) };
}

describe.each(STORE_KINDS)('exporting and erasing a learner (%s)', (kind) => {
  let t: TestApp;
  let admin: string;
  let victimKey: string;
  let bystanderKey: string;
  let victimCacheKey: string;
  let bystanderCacheKey: string;
  let calls = 0;

  const inject = (method: 'GET' | 'DELETE' | 'POST' | 'PUT', url: string, key: string, payload?: unknown) =>
    t.app.inject({ method, url, headers: bearer(key), ...(payload === undefined ? {} : { payload: payload as object }) });

  // One metered call through the real books: reservation (user, feature and global budgets)
  // and settlement, as the premium pipeline makes them.
  async function meteredCall(userId: string, settle = true) {
    const { metering, policy, clock } = t.container;
    const model = policy.models.grading!;
    const lines = budgetLines(policy, { userId, tier: 'premium', feature: 'grading' }, clock.now());
    const r = await metering.reserve({ userId, feature: 'grading', model, worstCaseMicros: 20_000, lines });
    if (!r.ok) throw new Error('reservation refused');
    const call: MeteredCall = { model, messageId: `msg_${kind}_${++calls}`, latencyMs: 12, outcome: 'ok', usage: { inputTokens: 400 + calls, outputTokens: 120, cacheWrite5mTokens: 30, cacheWrite1hTokens: 0, cacheReadTokens: 50 } };
    const finish = () => metering.settle(r.reservation, [call], 'llm', lines);
    if (settle) await finish();
    return finish;
  }

  async function learnerActivity(userId: string, key: string, answer: string) {
    const graded = await inject('POST', '/v1/grading/evaluations', key, { question: 'What does photosynthesis do?', referenceAnswer: 'It turns light into chemical energy.', answer });
    expect(graded.statusCode).toBe(200);
    const item = demoCatalog().items[0]!;
    expect((await inject('POST', '/v1/progress/events', key, { eventId: 'ev-1', itemId: item.id, correct: true })).statusCode).toBe(202);
    expect((await inject('POST', '/v1/learning-paths', key, {})).statusCode).toBe(200);
    await t.container.learning.repo.recordExposure('learning_path', userId, 'treatment', t.clock.now());
    await meteredCall(userId);
    await meteredCall(userId);
    return graded.json().id as string;
  }

  beforeAll(async () => {
    t = await createTestApp({ store: kind });
    admin = await t.premium(`admin-${kind}`, ['admin']);
    victimKey = await t.premium(VICTIM, ['learner', 'instructor']);
    bystanderKey = await t.premium(BYSTANDER);
    const bystanderEval = await learnerActivity(BYSTANDER, bystanderKey, BYSTANDER_ANSWER);
    const victimEval = await learnerActivity(VICTIM, victimKey, VICTIM_ANSWER);

    // An answer of the victim's awaiting review, and a review the victim (an instructor) gave.
    await t.store.db.updateTable('evaluations').set({ review_status: 'pending', review_reasons: 'low_confidence' }).where('id', '=', victimEval).execute();
    await t.store.db.updateTable('evaluations').set({ review_status: 'pending' }).where('id', '=', bystanderEval).execute();
    expect(await t.container.grading.repo.resolveReview(bystanderEval, JSON.stringify({ levels: {}, score: 1 }), VICTIM, t.clock.now())).toBe(true);
    // A rubric version the victim published, and a flag they changed.
    const [demo] = await t.container.grading.repo.listLatest();
    await t.container.grading.repo.insertRubric({ ...demo!.rubric, version: 77 }, VICTIM, t.clock.now());
    await new FlagsRepository(t.store.db).update('grading', (b) => ({ ...b!, rollout: 100 }), VICTIM, t.clock.now(), { key: 'grading', enabled: true, rollout: 100 });
    // Overrides, a dashboard session, a budget notice and a billing event.
    expect((await inject('PUT', `/v1/admin/users/${VICTIM}/budget`, admin, { monthlyUsd: 3 })).statusCode).toBe(200);
    expect((await inject('PUT', `/v1/admin/users/${BYSTANDER}/budget`, admin, { monthlyUsd: 4 })).statusCode).toBe(200);
    await new AdminSessionRepository(t.store.db).start({ id: `sess-${kind}`, userId: VICTIM, keyId: null, createdAt: t.clock.now(), expiresAt: t.clock.now() + 3_600_000 });
    await t.container.budgets.claimNotification(`budget:user:${VICTIM}:2026-11:0.8`, t.clock.now());
    await t.container.budgets.claimNotification(`budget:user:${BYSTANDER}:2026-11:0.8`, t.clock.now());
    await t.container.identity.repo.recordWebhookEvent({ eventId: `evt-${kind}`, type: 'subscription.created', userId: VICTIM, occurredAt: t.clock.now(), receivedAt: t.clock.now() });
    // A cached personal answer of each learner.
    const entry = (userId: string) => cacheKey({ feature: 'learning_path', scope: 'user', userId, template: { id: 't', version: 1 }, model: 'm', inputs: { n: 1 }, tags: [userTag(userId)] });
    victimCacheKey = entry(VICTIM);
    bystanderCacheKey = entry(BYSTANDER);
    await t.container.cache.set(victimCacheKey, { value: { path: 'victim' }, storedAt: t.clock.now() }, 3_600_000, [userTag(VICTIM)]);
    await t.container.cache.set(bystanderCacheKey, { value: { path: 'bystander' }, storedAt: t.clock.now() }, 3_600_000, [userTag(BYSTANDER)]);
  });
  afterAll(async () => t.close());

  it('exports everything held about the learner, and nothing of anyone else', async () => {
    const res = await inject('GET', `/v1/admin/users/${VICTIM}/export`, admin);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const e = res.json();
    expect(e.user).toMatchObject({ id: VICTIM, roles: ['learner', 'instructor'], disabled: false });
    expect(e.tier).toBe('premium');
    expect(e.subscription).toMatchObject({ userId: VICTIM, plan: 'premium', status: 'active' });
    expect(e.apiKeys).toHaveLength(1);
    expect(e.overrides).toEqual({ limits: null, monthlyUsd: 3 });
    expect(e.evaluations).toHaveLength(1);
    expect(e.evaluations[0]).toMatchObject({ answer: VICTIM_ANSWER, reviewStatus: 'pending', grade: { score: expect.any(Number) } });
    expect(e.progressEvents).toEqual([expect.objectContaining({ eventId: 'ev-1', correct: true })]);
    expect(e.learnerState.events).toBe(1);
    expect(e.mastery.skills.length).toBeGreaterThan(0);
    expect(e.recommendations.length).toBeGreaterThan(0);
    expect(e.exposures).toEqual([expect.objectContaining({ experiment: 'learning_path', variant: 'treatment' })]);
    expect(e.usage.ledger).toHaveLength(2);
    expect(e.usage.ledger.every((l: { status: string; costUsd: number }) => l.status === 'settled' && l.costUsd > 0)).toBe(true);
    expect(e.usage.daily).toEqual([expect.objectContaining({ feature: 'grading', calls: 2 })]);
    expect(e.budgets).toEqual([expect.objectContaining({ period: '2026-11' })]);
    expect(e.budgetNotices).toEqual([{ period: '2026-11', threshold: 0.8, sentAt: expect.any(Number) }]);
    expect(e.billingEvents).toEqual([expect.objectContaining({ type: 'subscription.created' })]);
    expect(e.rubricsOwned).toEqual([expect.objectContaining({ version: 77 })]);
    expect(e.dashboardSessions).toHaveLength(1);
    // Nothing of the bystander, and never a key, its hash or a session id.
    expect(res.body).not.toContain(BYSTANDER);
    expect(res.body).not.toContain(BYSTANDER_ANSWER);
    expect(res.body).not.toContain(victimKey);
    const { hash } = await t.store.db.selectFrom('api_keys').select('hash').where('user_id', '=', VICTIM).executeTakeFirstOrThrow();
    expect(res.body).not.toContain(hash);
    expect(res.body).not.toContain(`sess-${kind}`);
  });

  it('refuses bad requests with problem+json: unknown users, bad ids, non-admins, self-erasure', async () => {
    for (const [method, url] of [['GET', '/v1/admin/users/nobody-here/export'], ['DELETE', '/v1/admin/users/nobody-here']] as const) {
      const r = await inject(method, url, admin);
      expect(r.statusCode, url).toBe(404);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(r.json().code).toBe('not_found');
    }
    const bad = await inject('DELETE', '/v1/admin/users/has%20space', admin);
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors[0].path).toBe('params.id');
    expect((await inject('DELETE', `/v1/admin/users/${BYSTANDER}`, victimKey)).statusCode).toBe(403);
    expect((await inject('GET', `/v1/admin/users/${BYSTANDER}/export`, victimKey)).statusCode).toBe(403);
    const self = await inject('DELETE', `/v1/admin/users/admin-${kind}`, admin);
    expect(self.statusCode).toBe(409);
    expect(self.json().code).toBe('cannot_erase_self');
    expect((await inject('GET', '/v1/me', admin)).statusCode).toBe(200);
  });

  it('refuses with 409 and Retry-After while a call of the user is in flight, erasing nothing, and erases once it settled', async () => {
    const busy = `busy-${kind}`;
    const busyKey = await t.premium(busy);
    const settle = await meteredCall(busy, false);
    const refused = await inject('DELETE', `/v1/admin/users/${busy}`, admin);
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'call_in_flight', pending: 1 });
    expect(refused.headers['retry-after']).toBe('5');
    expect((await inject('GET', '/v1/me', busyKey)).statusCode).toBe(200);
    await settle();
    const erased = await inject('DELETE', `/v1/admin/users/${busy}`, admin);
    expect(erased.statusCode).toBe(200);
    expect(erased.json().pseudonymised.usageLedger).toBe(1);
    // The settlement wrote under the id before the erasure, never after it.
    expect(await t.store.db.selectFrom('usage_daily').select('user_id').where('user_id', '=', busy).execute()).toEqual([]);
  });

  it('erases every personal row in one go, keeps the books and the bystander, ends the key and the cache at once', async () => {
    expect((await inject('GET', '/v1/me', victimKey)).statusCode).toBe(200); // remembered by authentication now
    const before = await totals(t.store.db);
    const rowsBefore = await everyRow(t.store.db, t.store.dialect);
    const bystanderRows = (rows: Map<string, string>) => [...rows].map(([table, json]) => [table, (JSON.parse(json) as unknown[]).filter((r) => JSON.stringify(r).includes(BYSTANDER)).length]);
    const firstLogLine = t.logs.lines.length;

    const res = await inject('DELETE', `/v1/admin/users/${VICTIM}`, admin);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      userHash: userHash(VICTIM),
      pseudonym: `erased:${userHash(VICTIM)}`,
      removed: { user: 1, apiKeys: 1, dashboardSessions: 1, subscription: 1, overrides: 1, evaluations: 1, progressEvents: 1, learnerStates: 1, exposures: 1, budgetCounters: 1, budgetNotices: 1 },
      pseudonymised: { usageLedger: 2, usageDaily: 1, billingEvents: 1, reviewsGiven: 1, rubricsOwned: 1, flagChanges: 2 },
      cacheEntriesPurged: 1,
    });
    expect(body.removed.recommendations).toBeGreaterThan(0);

    // No row of any table holds the id any more; the bystander's rows are all there.
    const rowsAfter = await everyRow(t.store.db, t.store.dialect);
    for (const [table, json] of rowsAfter) expect(json, table).not.toContain(VICTIM);
    expect(bystanderRows(rowsAfter)).toEqual(bystanderRows(rowsBefore));
    expect(rowsAfter.get('evaluations')).not.toContain(VICTIM_ANSWER);
    expect(rowsAfter.get('evaluations')).toContain(BYSTANDER_ANSWER);
    // Per table, as the migrations name the user.
    const db = t.store.db;
    for (const [table, column] of [['users', 'id'], ['api_keys', 'user_id'], ['admin_sessions', 'user_id'], ['subscriptions', 'user_id'], ['user_overrides', 'user_id'], ['evaluations', 'user_id'], ['progress_events', 'user_id'], ['learner_states', 'user_id'], ['recommendations', 'user_id'], ['experiment_exposures', 'user_id'], ['usage_ledger', 'user_id'], ['usage_daily', 'user_id'], ['webhook_events', 'user_id']] as const) {
      expect(await db.selectFrom(table).select(sql`1`.as('x')).where(column, '=', VICTIM).execute(), table).toEqual([]);
    }
    expect(await db.selectFrom('usage_ledger').select('id').where('user_id', '=', body.pseudonym).execute()).toHaveLength(2);

    // Every total is what it was: per feature, model and day, in the ledger and in the budgets.
    expect(await totals(db)).toEqual(before);

    // The key fails at once, though authentication had remembered it.
    expect((await inject('GET', '/v1/me', victimKey)).statusCode).toBe(401);
    expect(await t.container.cache.get(victimCacheKey)).toBeUndefined();
    expect(await t.container.cache.get(bystanderCacheKey)).toBeDefined();
    expect((await inject('GET', '/v1/me', bystanderKey)).statusCode).toBe(200);

    // One info line, naming the actor and the learner's hash; never the id or an answer.
    const lines = t.logs.lines.slice(firstLogLine);
    const erased = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'personal data erased');
    expect(erased).toEqual([expect.objectContaining({ level: 30, actor: `admin-${kind}`, userHash: userHash(VICTIM) })]);
    expect(lines.join('\n')).not.toContain(VICTIM);
    expect(lines.join('\n')).not.toContain(VICTIM_ANSWER);

    // Erased: nothing is left to export or erase.
    expect((await inject('DELETE', `/v1/admin/users/${VICTIM}`, admin)).statusCode).toBe(404);
    expect((await inject('GET', `/v1/admin/users/${VICTIM}/export`, admin)).statusCode).toBe(404);
  });

  it('reaches the id as written only: a user whose id differs in case keeps their budget and notices, and is not in the export', async () => {
    // User ids are case-sensitive; SQLite's LIKE is not (for ASCII), so a LIKE prefix on the
    // budget keys would reach `CASE-…`'s counters when erasing `case-…`.
    const lower = `case-${kind}@example.org`;
    const upper = `CASE-${kind}@example.org`;
    await t.premium(lower);
    await t.premium(upper);
    await meteredCall(lower);
    await meteredCall(upper);
    for (const id of [lower, upper]) await t.container.budgets.claimNotification(`budget:user:${id}:2026-11:0.8`, t.clock.now());
    const upperRows = async () => ({
      counters: await t.store.db.selectFrom('budget_counters').select(['key', 'spent_micros']).where('key', '=', `user:${upper}:${new Date(t.clock.now()).toISOString().slice(0, 7)}`).execute(),
      notices: await t.store.db.selectFrom('notifications_sent').select('key').where('key', '=', `budget:user:${upper}:2026-11:0.8`).execute(),
    });
    const before = await upperRows();
    expect(before.counters).toHaveLength(1);
    expect(before.notices).toHaveLength(1);

    const exported = await inject('GET', `/v1/admin/users/${lower}/export`, admin);
    expect(exported.statusCode).toBe(200);
    expect(exported.json().budgets).toHaveLength(1);
    expect(exported.json().budgets[0].spentUsd).toBe(exported.json().usage.ledger[0].costUsd);

    const erased = await inject('DELETE', `/v1/admin/users/${lower}`, admin);
    expect(erased.statusCode).toBe(200);
    expect(erased.json().removed).toMatchObject({ budgetCounters: 1, budgetNotices: 1 });
    expect(await upperRows()).toEqual(before);
  });

  it("exports the budget notices held about a learner: a refusal's notice with no counter, and one written after their erasure (not 404)", async () => {
    // A monthly budget smaller than one call's worst case refuses before any counter row is
    // made; the refusal claims the exhausted notice, which names the learner.
    const u = `refused-${kind}`;
    await t.premium(u);
    const month = new Date(t.clock.now()).toISOString().slice(0, 7);
    const { metering, policy } = t.container;
    const refused = await metering.reserve({ userId: u, feature: 'grading', model: policy.models.grading!, worstCaseMicros: 20_000, lines: [{ key: `user:${u}:${month}`, capMicros: 10_000 }] });
    expect(refused.ok).toBe(false);
    const exported = await inject('GET', `/v1/admin/users/${u}/export`, admin);
    expect(exported.statusCode).toBe(200);
    expect(exported.json().budgets).toEqual([]);
    expect(exported.json().budgetNotices).toEqual([{ period: month, threshold: 1, sentAt: t.clock.now() }]);
    expect((await inject('DELETE', `/v1/admin/users/${u}`, admin)).json().removed.budgetNotices).toBe(1);

    // A refusal that raced the erasure claims its notice after the commit: the row names the
    // id, so the export shows it (404 would say nothing is held) until a second erasure.
    await t.container.budgets.claimNotification(`budget:user:${u}:${month}:1`, t.clock.now());
    const left = await inject('GET', `/v1/admin/users/${u}/export`, admin);
    expect(left.statusCode).toBe(200);
    expect(left.json()).toMatchObject({ user: null, budgetNotices: [{ period: month, threshold: 1 }] });
    expect((await inject('DELETE', `/v1/admin/users/${u}`, admin)).json().removed.budgetNotices).toBe(1);
    expect((await inject('GET', `/v1/admin/users/${u}/export`, admin)).statusCode).toBe(404);
  });

  it('an id erased twice adds its usage to the same pseudonymous rows: totals still unchanged', async () => {
    const again = `again-${kind}`;
    for (let round = 0; round < 2; round++) {
      await t.premium(again);
      await meteredCall(again);
      const before = await totals(t.store.db);
      expect((await inject('DELETE', `/v1/admin/users/${again}`, admin)).statusCode).toBe(200);
      expect(await totals(t.store.db)).toEqual(before);
    }
    const daily = await t.store.db.selectFrom('usage_daily').select(['calls']).where('user_id', '=', `erased:${userHash(again)}`).execute();
    expect(daily.map((d) => Number(d.calls))).toEqual([2]);
  });
});
