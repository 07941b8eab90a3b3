import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCatalog } from '../../src/features/learning-path/catalog-provider.js';
import { defaultKtParams, foldOldEvents, skillIndex } from '../../src/features/learning-path/learner-model.js';
import { KnowledgeTracer } from '../../src/features/learning-path/kt/knowledge-tracer.js';
import { emptyLearnerState } from '../../src/features/learning-path/kt/learner-state.js';
import type { EvaluationRow } from '../../src/features/grading/grading.repository.js';
import { registerRetentionMetrics, RetentionService } from '../../src/features/retention/retention.service.js';
import { DAY_MS } from '../../src/platform/clock.js';
import { BudgetRepository } from '../../src/features/usage/budget.repository.js';
import { RETENTION_FLOORS, type PolicyFile } from '../../src/platform/policy.schema.js';
import { STORE_KINDS } from '../helpers/databases.js';
import { bearer, createTestApp, ManualClock, type TestApp } from '../helpers/test-app.js';

// The retention job against real SQLite and Postgres: what it deletes and keeps per kind,
// and that the product works the same after a purge (mastery, a replay from the folded
// baseline, a learning path, calibration with the instructors' overrides).
const RETENTION: NonNullable<PolicyFile['retention']> = { evaluations: '180d', progressEvents: '365d', recommendations: '90d' };
const catalog = demoCatalog();
const items = catalog.items.slice(0, 4).map((i) => i.id);

describe.each(STORE_KINDS)('retention on %s', (kind) => {
  let t: TestApp;
  let key: string;
  const LEARNER = `ret-learner-${kind}`;
  const ANSWER = 'Secret answer text 7431 that must never be logged.';
  let now: number;
  const ago = (days: number) => now - days * DAY_MS;
  const service = (batch: number, registry = new Registry()) => {
    const c = t.container;
    return new RetentionService({ policy: c.policy.retention, grading: c.grading.repo, learning: c.learning.repo, learners: c.learning.learners, budgets: c.budgets, catalog: async () => (await c.learning.catalogs.get()).catalog, clock: c.clock, logger: c.logger, metrics: registerRetentionMetrics(registry), batch });
  };
  // Every attempt the learner made, in time order, as the knowledge tracer takes them.
  const history: { itemId: string; correct: boolean; at: number }[] = [];
  const post = async (events: { eventId: string; itemId: string; correct: boolean; at: number }[]) => {
    const r = await t.app.inject({ method: 'POST', url: '/v1/progress/events', headers: bearer(key), payload: { events: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) } });
    expect(r.statusCode, r.body).toBe(202);
    history.push(...events);
    history.sort((a, b) => a.at - b.at);
  };
  const mastery = async () => (await t.app.inject({ method: 'GET', url: '/v1/learners/me/mastery', headers: bearer(key) })).json();
  // The mastery a full replay of every attempt ever made gives, deleted ones included.
  const expectedMastery = () => {
    const kt = new KnowledgeTracer(defaultKtParams());
    const state = emptyLearnerState();
    const skillsOf = skillIndex(catalog);
    for (const h of history) kt.update(state, h.itemId, skillsOf(h.itemId), h.correct);
    return Object.fromEntries(catalog.skills.map((s) => [s.id, Math.round(kt.mastery(state, s.id) * 1000) / 1000]));
  };
  const masteryBySkill = (m: { skills: { skillId: string; mastery: number }[] }) => Object.fromEntries(m.skills.map((s) => [s.skillId, s.mastery]));
  const evaluation = (id: string, over: Partial<EvaluationRow>): EvaluationRow => ({
    id, user_id: LEARNER, rubric_id: 'demo-evaporation', rubric_version: 1, rubric_json: null, question: 'Q', answer: ANSWER, result_json: '{}', source: 'rules', confidence: 0.9,
    review_status: 'none', review_reasons: null, override_json: null, reviewed_by: null, reviewed_at: null, created_at: now, ...over,
  });
  const evaluationIds = async () => (await t.store.db.selectFrom('evaluations').select('id').where('user_id', '=', LEARNER).orderBy('id').execute()).map((r) => r.id);
  const eventCount = async () => Number((await t.store.db.selectFrom('progress_events').select((eb) => eb.fn.countAll<number | string>().as('n')).where('user_id', '=', LEARNER).executeTakeFirstOrThrow()).n);

  beforeAll(async () => {
    t = await createTestApp({ store: kind, policy: { retention: RETENTION } });
    now = t.clock.now();
    key = await t.premium(LEARNER);
    // 12 attempts from 500 to 390 days ago (to go), then 6 from 300 to 250 days ago (to stay).
    await post(Array.from({ length: 12 }, (_, i) => ({ eventId: `old-${i}`, itemId: items[i % 4]!, correct: i % 3 !== 0, at: ago(500 - 10 * i) })));
    await post(Array.from({ length: 6 }, (_, i) => ({ eventId: `new-${i}`, itemId: items[i % 4]!, correct: i % 2 === 0, at: ago(300 - 10 * i) })));
    const repo = t.container.grading.repo;
    await repo.insertEvaluation(evaluation('ev-old-none', { created_at: ago(200) }));
    await repo.insertEvaluation(evaluation('ev-old-pending', { created_at: ago(200), review_status: 'pending' }));
    await repo.insertEvaluation(evaluation('ev-old-calibration', { created_at: ago(200), review_status: 'resolved', answer: 'The water evaporated because the sun heated it.', override_json: JSON.stringify({ levels: { process: 'full', cause: 'full' }, score: 4 }), reviewed_by: 'teacher', reviewed_at: ago(199) }));
    await repo.insertEvaluation(evaluation('ev-old-inline-resolved', { created_at: ago(200), review_status: 'resolved', rubric_json: '{}', override_json: '{"levels":{}}', reviewed_by: 'teacher', reviewed_at: ago(199) }));
    await repo.insertEvaluation(evaluation('ev-recent', { created_at: ago(10) }));
    for (const [id, days] of [['rec-old-1', 100], ['rec-old-2', 95], ['rec-recent', 10]] as const) {
      await t.container.learning.repo.insertRecommendation({ id, userId: LEARNER, experiment: null, variant: null, source: 'rules', itemIds: [items[0]!], at: ago(days) });
    }
  });
  afterAll(() => t?.close());

  it('a dry run counts what would go and deletes nothing', async () => {
    const report = await service(1000).run({ dryRun: true });
    expect(report.deleted).toEqual({ evaluations: 2, calibrationSet: 0, progressEvents: 12, recommendations: 2, userBudgets: 0 });
    expect(report.before).toEqual({ evaluations: new Date(ago(180)).toISOString(), calibrationSet: null, progressEvents: new Date(ago(365)).toISOString(), recommendations: new Date(ago(90)).toISOString(), userBudgets: null });
    expect(await evaluationIds()).toHaveLength(5);
    expect(await eventCount()).toBe(18);
  });

  it('deletes what outlived its period in batches, keeps pending reviews and the calibration set, and mastery does not move', async () => {
    const before = await mastery();
    expect(masteryBySkill(before)).toEqual(expectedMastery());
    const calibrationBefore = await t.container.grading.calibration.calibrate('demo-evaporation');
    const registry = new Registry();
    const report = await service(5, registry).run(); // batches of 5: several statements and folds per kind
    expect(report.deleted).toEqual({ evaluations: 2, calibrationSet: 0, progressEvents: 12, recommendations: 2, userBudgets: 0 });
    expect(await evaluationIds()).toEqual(['ev-old-calibration', 'ev-old-pending', 'ev-recent']);
    expect(await eventCount()).toBe(6);
    const recs = await t.store.db.selectFrom('recommendations').select('id').where('user_id', '=', LEARNER).execute();
    expect(recs.map((r) => r.id)).toEqual(['rec-recent']);
    const text = await registry.metrics();
    expect(text).toContain('tutorgate_retention_deleted_total{kind="evaluations"} 2');
    expect(text).toContain('tutorgate_retention_deleted_total{kind="progressEvents"} 12');
    expect(text).toContain('tutorgate_retention_deleted_total{kind="recommendations"} 2');
    expect(text).toContain('tutorgate_retention_deleted_total{kind="calibrationSet"} 0');
    // Mastery, attempts and the event count the API answers are those of the whole history.
    expect(await mastery()).toEqual(before);
    // Calibration still has the instructor's override to compare with.
    const calibrationAfter = await t.container.grading.calibration.calibrate('demo-evaporation');
    expect(calibrationAfter.n).toBe(calibrationBefore.n);
    expect(calibrationAfter.n).toBe(4); // three anchors and the override
    // A second run finds nothing more.
    expect((await service(5).run()).deleted).toEqual({ evaluations: 0, calibrationSet: 0, progressEvents: 0, recommendations: 0, userBudgets: 0 });
  });

  it('a replay after the purge starts from the folded baseline: an attempt out of order gives the mastery of the whole history', async () => {
    // Older than the newest attempt: the learner model replays the history it holds.
    await post([{ eventId: 'late', itemId: items[1]!, correct: true, at: ago(280) }]);
    const m = await mastery();
    expect(m.events).toBe(19);
    expect(masteryBySkill(m)).toEqual(expectedMastery());
    // And one in order, on top of the replayed state.
    await post([{ eventId: 'next', itemId: items[2]!, correct: false, at: ago(1) }]);
    expect(masteryBySkill(await mastery())).toEqual(expectedMastery());
  });

  it("the learner's export holds the baseline the deleted attempts were folded into", async () => {
    const admin = await t.premium(`ret-admin-${kind}`, ['admin']);
    const res = await t.app.inject({ method: 'GET', url: `/v1/admin/users/${LEARNER}/export`, headers: bearer(admin) });
    expect(res.statusCode, res.body).toBe(200);
    const row = await t.store.db.selectFrom('learner_states').select(['base_json', 'base_events', 'base_last_at']).where('user_id', '=', LEARNER).executeTakeFirstOrThrow();
    expect(res.json().learnerState.baseline).toEqual({ state: JSON.parse(row.base_json!), events: 12, lastEventAt: ago(390) });
  });

  it('still builds a learning path', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: bearer(key), payload: {} });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().items.length).toBeGreaterThan(0);
  });

  it('two instances folding the same learner at once count each event once', async () => {
    const u = `ret-race-${kind}`;
    const k2 = await t.premium(u);
    const events = Array.from({ length: 30 }, (_, i) => ({ eventId: `r-${i}`, itemId: items[i % 4]!, correct: i % 4 !== 1, at: ago(700 - i) }));
    expect((await t.app.inject({ method: 'POST', url: '/v1/progress/events', headers: bearer(k2), payload: { events: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) } })).statusCode).toBe(202);
    const before = (await t.app.inject({ method: 'GET', url: '/v1/learners/me/mastery', headers: bearer(k2) })).json();
    const [a, b] = await Promise.all([service(4).run(), service(4).run()]);
    expect(a.deleted.progressEvents + b.deleted.progressEvents).toBe(30);
    const row = await t.store.db.selectFrom('learner_states').select(['events', 'base_events']).where('user_id', '=', u).executeTakeFirstOrThrow();
    expect({ events: Number(row.events), base: Number(row.base_events) }).toEqual({ events: 30, base: 30 });
    // A replay from the baseline alone gives the same mastery.
    expect((await t.app.inject({ method: 'POST', url: '/v1/progress/events', headers: bearer(k2), payload: { eventId: 'late', itemId: items[0]!, correct: true, at: new Date(ago(701)).toISOString() } })).json()).toMatchObject({ accepted: 1, events: 31 });
    const after = (await t.app.inject({ method: 'GET', url: '/v1/learners/me/mastery', headers: bearer(k2) })).json();
    expect(after.events).toBe(31);
    expect(after.skills.reduce((s: number, x: { attempts: number }) => s + x.attempts, 0)).toBe(before.skills.reduce((s: number, x: { attempts: number }) => s + x.attempts, 0) + catalog.items[0]!.skills.length);
  });

  it('a fold that reads a learner erased before it commits writes nothing back for them', async () => {
    const u = `ret-erased-${kind}`;
    const k = await t.premium(u);
    const events = Array.from({ length: 6 }, (_, i) => ({ eventId: `x-${i}`, itemId: items[i % 4]!, correct: i % 2 === 0, at: ago(700 - i) }));
    expect((await t.app.inject({ method: 'POST', url: '/v1/progress/events', headers: bearer(k), payload: { events: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) } })).statusCode).toBe(202);
    const repo = t.container.learning.repo;
    // The erasure commits between the fold's read of the events and its transaction.
    const racing = {
      getBase: (id: string) => repo.getBase(id),
      foldEvents: repo.foldEvents.bind(repo),
      eventsBefore: async (id: string, before: number, limit: number) => {
        const old = await repo.eventsBefore(id, before, limit);
        await t.container.privacy.erase(u, { label: 'test' });
        return old;
      },
    };
    const n = await foldOldEvents({ repo: racing, learners: t.container.learning.learners, now: () => t.clock.now() }, u, ago(365), catalog, 500);
    expect(n).toBe(0);
    expect(await t.store.db.selectFrom('learner_states').select('user_id').where('user_id', '=', u).execute()).toEqual([]);
    expect(await t.store.db.selectFrom('progress_events').select('event_id').where('user_id', '=', u).execute()).toEqual([]);
  });

  it('the container exposes the counter and logs one line per run with counts, never personal data', async () => {
    await t.container.retention.run();
    const line = t.logs.lines.filter((l) => l.includes('"msg":"retention run"')).at(-1)!;
    expect(JSON.parse(line).retention).toMatchObject({ dryRun: false, deleted: { evaluations: 0 }, keptDays: { evaluations: 180, progressEvents: 365, recommendations: 90 } });
    expect(t.logs.text()).not.toContain(ANSWER);
    expect(t.logs.text()).not.toContain(LEARNER);
    expect((await t.app.inject({ method: 'GET', url: '/metrics' })).body).toContain('tutorgate_retention_deleted_total{kind="evaluations"}');
  });

  it('a review resolved lately is kept a whole period from its resolution, however old the answer', async () => {
    const repo = t.container.grading.repo;
    const u = `ret-reviewed-${kind}`;
    const resolved = (id: string, reviewedDaysAgo: number, rubricJson: string | null) =>
      evaluation(id, { user_id: u, created_at: ago(400), review_status: 'resolved', rubric_json: rubricJson, override_json: '{"levels":{}}', reviewed_by: 'teacher', reviewed_at: ago(reviewedDaysAgo) });
    await t.free(u); // an evaluation is stored only for a user who stands (ADR 0016)
    await repo.insertEvaluation(resolved('rv-inline-lately', 5, '{}'));
    await repo.insertEvaluation(resolved('rv-inline-long-ago', 181, '{}'));
    await repo.insertEvaluation(resolved('rv-calibration-lately', 5, null));
    await repo.insertEvaluation(resolved('rv-calibration-long-ago', 181, null));
    const c = t.container;
    const withCalibration = new RetentionService({ policy: { ...c.policy.retention!, calibrationSet: '180d' }, grading: c.grading.repo, learning: c.learning.repo, learners: c.learning.learners, budgets: c.budgets, catalog: async () => (await c.learning.catalogs.get()).catalog, clock: c.clock, logger: c.logger });
    expect((await withCalibration.run({ dryRun: true })).deleted).toMatchObject({ evaluations: 1, calibrationSet: 2 }); // and ev-old-calibration of the learner above
    await withCalibration.run();
    const left = await t.store.db.selectFrom('evaluations').select('id').where('user_id', '=', u).orderBy('id').execute();
    expect(left.map((r) => r.id)).toEqual(['rv-calibration-lately', 'rv-inline-lately']);
  });

  it("userBudgets: deletes users' budget counters and notices last written before the period, never the current or previous month's, one with a reservation, or the shared budgets'", async () => {
    // The last moment of a 31-day month after a 31-day month: the previous month began 62 days ago.
    const clock = new ManualClock(Date.parse('2026-08-31T23:59:59.999Z'));
    const at = (iso: string) => Date.parse(iso);
    const u = `ub-${kind}`;
    const counters: [string, number, number][] = [
      [`user:${u}:2026-08`, at('2026-08-01T00:00:00Z'), 0], // current month: kept
      [`user:${u}:2026-07`, at('2026-07-01T00:00:00Z'), 0], // previous month, written at its first moment: kept
      [`user:${u}:2026-06`, at('2026-06-28T00:00:00Z'), 0], // 65 days: goes
      [`user:${u}_x:2026-04`, at('2026-04-30T00:00:00Z'), 0], // goes (an id with a LIKE wildcard)
      [`user:${u}:2026-05`, at('2026-05-31T00:00:00Z'), 7], // a reservation still to settle into it: kept
      ['global:2026-04-01', at('2026-04-01T00:00:00Z'), 0], // shared budgets name no user: kept
      ['feature:grading:2026-04-01', at('2026-04-01T00:00:00Z'), 0],
    ];
    await t.store.db.insertInto('budget_counters').values(counters.map(([key, updated_at, reserved_micros]) => ({ key, spent_micros: 100, reserved_micros, updated_at }))).execute();
    const notices: [string, number][] = [
      [`budget:user:${u}:2026-07:0.8`, at('2026-07-01T00:00:00Z')], // kept: would otherwise be sent again
      [`budget:user:${u}:2026-06:1`, at('2026-06-28T00:00:00Z')], // goes
      [`budget:user:${u}:2026-03:1`, at('2026-03-05T00:00:00Z')], // goes (a refusal notice, no counter)
      ['budget:global:2026-04-01:1', at('2026-04-01T00:00:00Z')], // kept
      [`job:calibration:3600000:${u}`, at('2026-01-01T00:00:00Z')], // another claim: kept
    ];
    await t.store.db.insertInto('notifications_sent').values(notices.map(([key, sent_at]) => ({ key, sent_at }))).execute();
    const c = t.container;
    const registry = new Registry();
    const metrics = registerRetentionMetrics(registry);
    const svc = (batch: number) =>
      new RetentionService({ policy: { every: '1h', userBudgets: '63d' }, grading: c.grading.repo, learning: c.learning.repo, learners: c.learning.learners, budgets: c.budgets, catalog: async () => (await c.learning.catalogs.get()).catalog, clock, logger: c.logger, metrics, batch });
    const dry = await svc(1).run({ dryRun: true });
    expect(dry.deleted).toEqual({ evaluations: 0, calibrationSet: 0, progressEvents: 0, recommendations: 0, userBudgets: 4 });
    expect(dry.before.userBudgets).toBe('2026-06-29T23:59:59.999Z');
    expect((await svc(1).run()).deleted.userBudgets).toBe(4); // one row per statement
    expect(await registry.metrics()).toContain('tutorgate_retention_deleted_total{kind="userBudgets"} 4');
    const keys = async (table: 'budget_counters' | 'notifications_sent') => (await t.store.db.selectFrom(table).select('key').where('key', 'in', [...counters, ...notices].map((r) => r[0])).orderBy('key').execute()).map((r) => r.key);
    expect(await keys('budget_counters')).toEqual(['feature:grading:2026-04-01', 'global:2026-04-01', `user:${u}:2026-05`, `user:${u}:2026-07`, `user:${u}:2026-08`]);
    expect(await keys('notifications_sent')).toEqual(['budget:global:2026-04-01:1', `budget:user:${u}:2026-07:0.8`, `job:calibration:3600000:${u}`]);
    expect((await svc(3).run()).deleted.userBudgets).toBe(0);
  });

  it('userBudgets: a counter reserved in between the purge finding it and deleting it stays, with its reservation', async () => {
    const key = `user:ub-race-${kind}:2026-01`;
    await t.store.db.insertInto('budget_counters').values({ key, spent_micros: 10, reserved_micros: 0, updated_at: ago(200) }).execute();
    let raced = false;
    // Between the purge's read of the candidates and its delete, a reservation lands on the
    // counter (on SQLite too: other requests run between the two awaits).
    const race = async () => {
      if (raced) return;
      raced = true;
      await t.store.db.updateTable('budget_counters').set({ reserved_micros: 5, updated_at: now }).where('key', '=', key).execute();
    };
    const beforeExecute = <B extends object>(b: B): B =>
      new Proxy(b, {
        get(target, prop) {
          const v = Reflect.get(target, prop) as unknown;
          if (typeof v !== 'function') return v;
          if (prop === 'execute' || prop === 'executeTakeFirst') return async (...a: unknown[]) => (await race(), v.apply(target, a));
          return (...a: unknown[]) => {
            const r = v.apply(target, a) as unknown;
            return r && typeof r === 'object' && 'executeTakeFirst' in r ? beforeExecute(r) : r;
          };
        },
      });
    const db = new Proxy(t.store.db, {
      get(target, prop) {
        const v = Reflect.get(target, prop) as unknown;
        if (prop === 'deleteFrom') return (table: 'budget_counters') => beforeExecute(target.deleteFrom(table));
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    await new BudgetRepository(db).deleteUserBudgetsBefore(ago(63), 500);
    expect(raced).toBe(true);
    expect(await t.store.db.selectFrom('budget_counters').select(['spent_micros', 'reserved_micros']).where('key', '=', key).executeTakeFirst()).toEqual({ spent_micros: 10, reserved_micros: 5 });
  });

  it('deletes through the new time indexes, not a table scan', async () => {
    // Postgres plans a small table with a scan whatever its indexes: scans are priced out
    // here, so the plan shows which index the delete can use on a large one.
    const plan = (q: string) =>
      t.store.db.transaction().execute(async (trx) => {
        if (kind === 'postgres') await sql`set local enable_seqscan = off`.execute(trx);
        const rows = (await sql.raw(`explain ${kind === 'sqlite' ? 'query plan ' : ''}${q}`).execute(trx)).rows as Record<string, string>[];
        return rows.map((r) => r.detail ?? r['QUERY PLAN']).join(' | ');
      });
    expect(await plan(`delete from evaluations where id in (select id from evaluations where created_at < 1 and review_status = 'none' order by created_at limit 1000)`)).toMatch(/evaluations_created_idx/);
    expect(await plan(`select user_id from progress_events where at < 1 order by at limit 1000`)).toMatch(/progress_events_at_idx/);
    expect(await plan(`delete from recommendations where id in (select id from recommendations where at < 1 order by at limit 1000)`)).toMatch(/recommendations_at_idx/);
  });
});

describe('the userBudgets floor', () => {
  it("keeps every month's counter, written at the month's first moment, until the month after next, at any moment of any month", () => {
    const floor = RETENTION_FLOORS.userBudgets.days * DAY_MS;
    for (let m = 0; m < 48; m++) {
      const previousStart = Date.UTC(2026, m - 1, 1);
      // The last moment of month m: the longest the previous month's counter must be kept so far.
      const lastMoment = Date.UTC(2026, m + 1, 1) - 1;
      expect(lastMoment - floor, new Date(lastMoment).toISOString()).toBeLessThan(previousStart);
    }
  });
});

describe('retention without a retention section', () => {
  it('deletes nothing, however old', async () => {
    const t = await createTestApp();
    try {
      const key = await t.premium('ret-default');
      expect((await t.app.inject({ method: 'POST', url: '/v1/progress/events', headers: bearer(key), payload: { eventId: 'ancient', itemId: items[0]!, correct: true, at: '2001-01-01T00:00:00Z' } })).statusCode).toBe(202);
      expect(t.container.policy.retention).toBeUndefined();
      expect(t.container.retention.configured()).toBe(false);
      expect((await t.container.retention.run()).deleted).toEqual({ evaluations: 0, calibrationSet: 0, progressEvents: 0, recommendations: 0, userBudgets: 0 });
      expect(await t.store.db.selectFrom('progress_events').select('event_id').where('user_id', '=', 'ret-default').execute()).toHaveLength(1);
    } finally {
      await t.close();
    }
  });
});
