import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { demoCatalog } from '../../src/features/learning-path/catalog-provider.js';
import { bearer } from '../helpers/test-app.js';
import { createSimulatedApp, SIM_KEY } from '../helpers/simulated-app.js';

type App = Awaited<ReturnType<typeof createSimulatedApp>>;

describe('learning paths over HTTP', () => {
  let t: App;
  let premium: string;
  let free: string;
  const catalog = demoCatalog();
  const skillsOf = new Map(catalog.items.map((i) => [i.id, i.skills]));
  const prereqs = new Map(catalog.skills.map((s) => [s.id, s.prerequisites]));

  beforeAll(async () => {
    t = await createSimulatedApp();
    premium = await t.premium('lp-premium');
    free = await t.free('lp-free');
  });
  afterAll(() => t.close());
  beforeEach(() => t.sim.reset());

  const post = (url: string, key: string, payload: unknown) => t.app.inject({ method: 'POST', url, headers: bearer(key), payload: payload as object });

  it('records progress idempotently and in any order, and mastery moves with it', async () => {
    const first = catalog.items[0]!;
    const before = (await t.app.inject({ method: 'GET', url: '/v1/learners/me/mastery', headers: bearer(premium) })).json();
    const skill = first.skills[0]!;
    const m0 = before.skills.find((s: { skillId: string }) => s.skillId === skill).mastery;
    const events = [3, 1, 2].map((i) => ({ eventId: `e${i}`, itemId: first.id, correct: true, at: new Date(Date.UTC(2026, 10, 20, 10, i)).toISOString() }));
    expect((await post('/v1/progress/events', premium, { events })).json()).toMatchObject({ accepted: 3, duplicates: 0, events: 3 });
    expect((await post('/v1/progress/events', premium, { events })).json()).toMatchObject({ accepted: 0, duplicates: 3, events: 3 });
    // an older event arriving late is replayed in time order
    const late = await post('/v1/progress/events', premium, { eventId: 'e0', itemId: first.id, correct: true, at: new Date(Date.UTC(2026, 10, 20, 9)).toISOString() });
    expect(late.json()).toMatchObject({ accepted: 1, events: 4 });
    const after = (await t.app.inject({ method: 'GET', url: '/v1/learners/me/mastery', headers: bearer(premium) })).json();
    expect(after.skills.find((s: { skillId: string }) => s.skillId === skill).mastery).toBeGreaterThan(m0);
  });

  it('gives the same mastery whichever order attempts arrive in, also for a batch without times', async () => {
    const mastery = async (key: string) => (await t.app.inject({ method: 'GET', url: '/v1/learners/me/mastery', headers: bearer(key) })).json().skills;
    const outcomes = [false, false, true, true, true, false, true, false, false, true, true, false];
    const withIds = outcomes.map((correct, i) => ({ eventId: `b${i}`, itemId: catalog.items[i % 3]!.id, correct })); // b10 sorts before b2
    const withoutIds = outcomes.map((correct, i) => ({ itemId: catalog.items[i % 3]!.id, correct }));
    const late = { eventId: 'late', itemId: catalog.items[0]!.id, correct: true, at: new Date(t.clock.now() - 86_400_000).toISOString() };
    for (const batch of [withIds, withoutIds]) {
      const [batchFirst, lateFirst] = [await t.free(), await t.free()];
      await post('/v1/progress/events', batchFirst, { events: batch });
      await post('/v1/progress/events', batchFirst, late); // older than the batch: replays the history
      await post('/v1/progress/events', lateFirst, late);
      await post('/v1/progress/events', lateFirst, { events: batch }); // newer: applied on top
      expect(await mastery(batchFirst)).toEqual(await mastery(lateFirst));
    }
  });

  it('refuses unknown items and bad bodies with 4xx naming the field', async () => {
    const r = await post('/v1/progress/events', premium, { events: [{ itemId: 'no-such-item', correct: true }] });
    expect(r.statusCode).toBe(422);
    expect(r.json().detail).toMatch(/events\.0\.itemId/);
    // The body is one event or a batch (a union): the error names the field of the form sent,
    // not a bare "body: Invalid input".
    const bad = await post('/v1/progress/events', premium, { events: [{ itemId: 'x', correct: 'yes' }] });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors).toEqual([{ path: 'body.events.0.correct', message: expect.stringMatching(/boolean/) }]);
    const badOne = await post('/v1/progress/events', premium, { itemId: 'x', correct: 'yes' });
    expect(badOne.statusCode).toBe(422);
    expect(badOne.json().errors).toEqual([{ path: 'body.correct', message: expect.stringMatching(/boolean/) }]);
    const item = catalog.items[0]!.id;
    const ahead = new Date(t.clock.now() + 3_600_000).toISOString();
    const future = await post('/v1/progress/events', premium, { events: [{ itemId: item, correct: true, at: new Date(t.clock.now()).toISOString() }, { itemId: item, correct: true, at: ahead }] });
    expect(future.statusCode).toBe(422);
    expect(future.json().errors).toEqual([{ path: 'events.1.at', message: 'in the future' }]);
  });

  it('gives premium users an LLM path made only of valid candidates, free users the rules path', async () => {
    const p = await post('/v1/learning-paths', premium, {});
    expect(p.statusCode).toBe(200);
    const body = p.json();
    expect(body.source).toBe('llm');
    // at most the requested count: fewer when fewer items are open to this learner
    expect(body.items.length).toBeGreaterThan(0);
    expect(body.items.length).toBeLessThanOrEqual(5);
    expect(body.usage.inputTokens).toBeGreaterThan(0);
    expect(body.rationale.length).toBeGreaterThan(0);
    expect(p.headers['ratelimit-policy']).toBeDefined();
    const f = await post('/v1/learning-paths', free, { count: 3 });
    expect(f.json()).toMatchObject({ source: 'rules', fallbackReason: 'not_entitled', usage: { costUsd: 0 } });
    expect(f.json().items).toHaveLength(3);
  });

  it('never shows a learner a rationale that echoes the prompt or names item ids: the repair, else the rules rationale', async () => {
    const valid = (await post('/v1/learning-paths', await t.premium(), { count: 3 })).json();
    expect(valid.source).toBe('llm');
    // the simulator's own rationale is learner prose, which the validator lets through
    expect(valid.rationale).not.toMatch(/[<>{}]|"itemId"/);
    const itemIds = valid.items.map((i: { itemId: string }) => i.itemId); // open to any new learner
    const echo = { itemIds, rationale: '</learner_summary>\n<candidates>\n[{"itemId":"' + itemIds[0] + '","score":0.93' };
    const named = { itemIds, rationale: `Do ${itemIds[0]} first.` };
    for (const json of [echo, named]) {
      t.sim.script.enqueue({ json });
      t.sim.script.enqueue({ json });
      const r = (await post('/v1/learning-paths', await t.premium(), { count: 3 })).json();
      expect(r).toMatchObject({ source: 'rules', fallbackReason: 'invalid_output' });
      expect(r.rationale).not.toContain(itemIds[0]);
      expect(r.rationale).not.toContain('<');
    }
    t.sim.script.enqueue({ json: echo });
    t.sim.script.enqueue({ json: { itemIds, rationale: 'Warm up first, then take on the harder set.' } });
    const repaired = (await post('/v1/learning-paths', await t.premium(), { count: 3 })).json();
    expect(repaired).toMatchObject({ source: 'llm', rationale: 'Warm up first, then take on the harder set.' });
    expect(repaired.items.map((i: { itemId: string }) => i.itemId)).toEqual(itemIds);
  });

  it('never serves an item outside the catalog or with unmet prerequisites, whatever the model says', async () => {
    const all = catalog.items.map((i) => i.id);
    const answers = [
      { itemIds: ['not-in-catalog', ...all.slice(0, 4)], rationale: 'x' },
      { itemIds: all.slice(-5), rationale: 'advanced first' }, // late items need prerequisites the learner lacks
      { itemIds: [all[0], all[0], all[0], all[0], all[0]], rationale: 'dupes' },
    ];
    for (const json of answers) {
      t.sim.script.enqueue({ json });
      t.sim.script.enqueue({ json }); // the repair says the same: the rules path must stand
      const r = (await post('/v1/learning-paths', await t.premium(), { count: 5 })).json();
      expect(r.source).toBe('rules');
      expect(r.fallbackReason).toBe('invalid_output');
      for (const item of r.items) expect(skillsOf.has(item.itemId)).toBe(true);
      expect(new Set(r.items.map((i: { itemId: string }) => i.itemId)).size).toBe(r.items.length);
      // a new learner has mastered nothing, so only items of skills without prerequisites are open
      for (const item of r.items) for (const s of skillsOf.get(item.itemId)!) expect(prereqs.get(s)).toEqual([]);
    }
  });

  // What the real API can answer instead of a path: each ends in the rules path, and the learner's
  // ledger row holds exactly what the upstream billed (a refused or cut answer is billed; an error
  // status is not; a stream broken by an error event is billed what it reported).
  it.each([
    ['a refusal (prose, not the schema\'s JSON)', () => t.sim.script.enqueue({ stopReason: 'refusal' }), 'upstream_refused'],
    ['an answer cut by max_tokens', () => t.sim.script.enqueue({ stopReason: 'max_tokens' }), 'upstream_truncated'],
    ['an answer cut by the context window', () => t.sim.script.enqueue({ stopReason: 'model_context_window_exceeded' }), 'upstream_truncated'],
    ['a 413', () => t.sim.faults.next({ kind: 'status', status: 413 }), 'upstream_rejected'],
    ['the monthly spend cap', () => t.sim.faults.next({ kind: 'status', status: 429, errorCode: 'enforced_spend_limit_reached' }), 'upstream_rate_limited'],
    ['an error event mid-stream on every attempt', () => t.sim.faults.next({ kind: 'stream-error' }, 10), 'upstream_unavailable'],
  ])('falls back to the rules path on %s, and the ledger holds what was billed', async (_name, inject, outcome) => {
    const learner = await t.premium();
    inject();
    const r = (await post('/v1/learning-paths', learner, { count: 3 })).json();
    expect(r).toMatchObject({ source: 'rules', fallbackReason: 'upstream_failure' });
    expect(r.items).toHaveLength(3);
    const userId = (await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(learner) })).json().userId as string;
    const rows = await t.store.db.selectFrom('usage_ledger').selectAll().where('user_id', '=', userId).execute();
    expect(rows.map((x) => [x.status, x.outcome])).toEqual([['settled', outcome]]);
    const billed = t.sim.charges;
    const sum = (f: (c: (typeof billed)[number]) => number) => billed.reduce((n, c) => n + f(c), 0);
    expect([Number(rows[0]!.input_tokens), Number(rows[0]!.output_tokens)]).toEqual([sum((c) => c.inputTokens), sum((c) => c.outputTokens)]);
    expect(Number(rows[0]!.cost_micros) > 0).toBe(billed.length > 0);
    t.sim.faults.clear();
    t.sim.script.clear();
    // The spend cap opened the key breaker; later tests need it closed.
    t.container.llm.setApiKey(null);
    t.container.llm.setApiKey(SIM_KEY);
  });

  it('serves the same learner from cache until their progress changes, and never another learner', async () => {
    const a = await t.premium();
    const b = await t.premium();
    expect((await post('/v1/learning-paths', a, { count: 4 })).json().source).toBe('llm');
    expect((await post('/v1/learning-paths', a, { count: 4 })).json().source).toBe('cache');
    expect((await post('/v1/learning-paths', b, { count: 4 })).json().source).toBe('llm');
    await post('/v1/progress/events', a, { itemId: catalog.items[0]!.id, correct: false });
    expect((await post('/v1/learning-paths', a, { count: 4 })).json().source).toBe('llm');
  });

  it('counts a valid path request against the rate limit before reading progress or recommending anything', async () => {
    const admin = await t.premium('lp-admin', ['admin']);
    const flooder = await t.free('lp-flooder');
    const put = await t.app.inject({ method: 'PUT', url: '/v1/admin/users/lp-flooder/limits', headers: bearer(admin), payload: { requestsPerMinute: 2 } });
    expect(put.statusCode).toBe(200);
    const snapshot = vi.spyOn(t.container.learning.learners, 'snapshot');
    const recommendations = vi.spyOn(t.container.learning.repo, 'insertRecommendation');
    try {
      expect((await post('/v1/learning-paths', flooder, { goal: 'astrophysics' })).statusCode).toBe(422); // invalid: not counted
      for (let i = 0; i < 2; i++) expect((await post('/v1/learning-paths', flooder, {})).json().source).toBe('rules');
      expect(snapshot).toHaveBeenCalledTimes(2);
      expect((await post('/v1/learning-paths', flooder, { goal: 'astrophysics' })).statusCode).toBe(422); // still named, not hidden by the limit
      const refused = await post('/v1/learning-paths', flooder, {});
      expect(refused.statusCode).toBe(429);
      expect(refused.headers['retry-after']).toBeDefined();
      expect(snapshot).toHaveBeenCalledTimes(2);
      expect(recommendations).toHaveBeenCalledTimes(2);
    } finally {
      snapshot.mockRestore();
      recommendations.mockRestore();
    }
  });

  it('takes a request with no body at all as an empty one, and still refuses a bad one', async () => {
    const none = await t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: bearer(free) });
    expect(none.statusCode, none.body).toBe(200);
    const labelled = await t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: { ...bearer(free), 'content-type': 'application/json' }, payload: '' });
    expect(labelled.statusCode, labelled.body).toBe(200);
    expect((await t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: { ...bearer(free), 'content-type': 'application/json' }, payload: '{"count":' })).statusCode).toBe(400);
    expect((await t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: { ...bearer(free), 'content-type': 'application/json' }, payload: '{"__proto__":{"x":1}}' })).statusCode).toBe(400);
    expect(none.json().items.length).toBeGreaterThan(0);
    expect(none.json().items).toEqual((await post('/v1/learning-paths', free, {})).json().items);
    const bad = await post('/v1/learning-paths', free, { count: 0 });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().detail).toMatch(/count/);
  });

  it('counts a skill as mastered only once practised: three right answers on the first skill do not master the catalog', async () => {
    const key = await t.free();
    const events = ['whole-numbers-lesson', 'whole-numbers-practice-1', 'whole-numbers-practice-2'].map((itemId, i) => ({ eventId: `wn${i}`, itemId, correct: true, at: new Date(Date.UTC(2026, 10, 20, 10, i)).toISOString() }));
    expect((await post('/v1/progress/events', key, { events })).statusCode).toBe(202);
    const skills = (await t.app.inject({ method: 'GET', url: '/v1/learners/me/mastery', headers: bearer(key) })).json().skills as { skillId: string; mastered: boolean; attempts: number }[];
    for (const s of skills.filter((x) => x.attempts === 0)) expect(s.mastered, s.skillId).toBe(false);
    expect(skills.find((s) => s.skillId === 'word-problems')).toMatchObject({ attempts: 0, mastered: false });
    const path = (await post('/v1/learning-paths', key, { count: 5 })).json();
    expect(path.items.length).toBeGreaterThan(0);
    // what it offers is open: every prerequisite of its skills is a practised, mastered skill
    const mastered = new Set(skills.filter((s) => s.mastered).map((s) => s.skillId));
    for (const item of path.items as { skills: string[] }[]) for (const sk of item.skills) for (const pre of prereqs.get(sk) ?? []) expect(mastered.has(pre), `${sk} needs ${pre}`).toBe(true);
  });

  it('brings a mastered skill back for review however long ago it was last practised', async () => {
    const DAY = 86_400_000;
    const wholeNumbers = catalog.items.filter((i) => i.skills.length === 1 && i.skills[0] === 'whole-numbers').map((i) => i.id);
    for (const daysAgo of [30, 61, 200]) {
      const key = await t.free();
      const at = new Date(t.clock.now() - daysAgo * DAY).toISOString();
      const events = ['whole-numbers-lesson', 'whole-numbers-practice-1', 'whole-numbers-practice-2'].map((itemId, i) => ({ eventId: `old${i}`, itemId, correct: true, at }));
      expect((await post('/v1/progress/events', key, { events })).statusCode).toBe(202);
      const skills = (await t.app.inject({ method: 'GET', url: '/v1/learners/me/mastery', headers: bearer(key) })).json().skills as { skillId: string; mastered: boolean }[];
      expect(skills.find((s) => s.skillId === 'whole-numbers')!.mastered).toBe(true);
      // the longer since practice, the more a review is due: it must not drop out of the path
      const path = (await post('/v1/learning-paths', key, { count: 20 })).json();
      expect(path.items.map((i: { itemId: string }) => i.itemId).filter((id: string) => wholeNumbers.includes(id)).length, `${daysAgo} days`).toBeGreaterThan(0);
    }
  });

  it('refuses an unknown goal', async () => {
    const r = await post('/v1/learning-paths', premium, { goal: 'astrophysics' });
    expect(r.statusCode).toBe(422);
    expect(r.json().detail).toMatch(/goal/);
  });
});
