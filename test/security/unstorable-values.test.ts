import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../helpers/databases.js';
import { createSimulatedApp } from '../helpers/simulated-app.js';
import { bearer } from '../helpers/test-app.js';

// Values that parse, pass a pattern, and still cannot be stored or name nothing: U+0000,
// which Postgres text refuses (it used to fail a grade after its LLM call was billed), and
// days that do not exist. Each is refused up front with 422 naming the field, on both stores.
describe.each(STORE_KINDS)('values no store or calendar holds, on %s', (store) => {
  let t: Awaited<ReturnType<typeof createSimulatedApp>>;
  let learner: string;
  let admin: string;
  beforeAll(async () => {
    t = await createSimulatedApp({ store });
    learner = await t.premium('nul-learner');
    admin = await t.premium('nul-admin', ['admin']);
  });
  afterAll(() => t.close());

  const expect422 = (r: { statusCode: number; json(): { code: string; errors?: { path: string }[] } }, path: string) => {
    expect(r.statusCode, JSON.stringify(r.json())).toBe(422);
    expect(r.json().code).toBe('validation_failed');
    expect(r.json().errors?.map((e) => e.path)).toContain(path);
  };

  it('refuses U+0000 in a graded answer before any upstream call, and bills nothing', async () => {
    const calls = t.sim.stats().messages;
    const r = await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(learner), payload: { question: 'Why does ice float?', referenceAnswer: 'Ice is less dense than water.', answer: 'It is less\u0000 dense.' } });
    expect422(r, 'body.answer');
    expect(t.sim.stats().messages).toBe(calls);
    const ledger = await t.store.db.selectFrom('usage_ledger').select('id').where('user_id', '=', 'nul-learner').execute();
    expect(ledger).toEqual([]);
    // The same request without the NUL is graded (control).
    const ok = await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(learner), payload: { question: 'Why does ice float?', referenceAnswer: 'Ice is less dense than water.', answer: 'It is less dense.' } });
    expect(ok.statusCode).toBe(200);
  });

  it('refuses U+0000 in path parameters, query strings, keys and YAML bodies', async () => {
    expect422(await t.app.inject({ method: 'GET', url: '/v1/grading/evaluations/x%00', headers: bearer(learner) }), 'params.id');
    expect422(await t.app.inject({ method: 'DELETE', url: '/v1/admin/users/nul-learner/keys/k%00', headers: bearer(admin) }), 'params.keyId');
    expect422(await t.app.inject({ method: 'GET', url: '/v1/usage/me?from=%00', headers: bearer(learner) }), 'querystring.from');
    expect422(await t.app.inject({ method: 'POST', url: '/v1/progress/events', headers: { ...bearer(learner), 'content-type': 'application/json' }, payload: '{"itemId":"a","correct":true,"meta\\u0000":1}' }), 'body (a key)');
    const yaml = 'id: "nul\\0id"\nversion: 1\ntitle: t\ncriteria: []\nreferenceAnswers: []\n';
    expect422(await t.app.inject({ method: 'POST', url: '/v1/grading/rubrics', headers: { ...bearer(admin), 'content-type': 'application/yaml' }, payload: yaml.replace('\\0', '\u0000') }), 'body');
  });

  // Only what a route reads is refused: a query it ignores, or a body sent to a route that
  // takes none, is stored nowhere, and the 422 was an answer its OpenAPI operation does not list.
  it('ignores U+0000 in a query the route does not read and in a body sent to a route that takes none', async () => {
    const me = await t.app.inject({ method: 'GET', url: '/v1/me?unused=%00', headers: bearer(learner) });
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json().userId).toBe('nul-learner');
    const key = await t.app.inject({ method: 'POST', url: '/v1/admin/users/nul-learner/keys', headers: { ...bearer(admin), 'content-type': 'application/json' }, payload: '{"unused":"a\\u0000b"}' });
    expect(key.statusCode, key.body).toBe(201);
    // The same NUL where the route reads it is still refused.
    expect422(await t.app.inject({ method: 'GET', url: '/v1/admin/users?after=%00', headers: bearer(admin) }), 'querystring.after');
  });

  // A rubric version is stored in a 32-bit integer column on Postgres (64-bit on SQLite): a
  // larger one failed the grade there after its LLM call was billed (a 500), and publishing
  // it answered 500. Refused up front on both stores; the largest storable one works.
  it('refuses a rubric version beyond 32 bits before any upstream call, and bills nothing', async () => {
    const rubric = (version: number) => ({
      id: 'big-version', version, title: 'Ice', criteria: [{ id: 'correctness', name: 'C', description: 'd', levels: [{ id: 'correct', points: 1, descriptor: 'right' }, { id: 'incorrect', points: 0, descriptor: 'wrong' }] }],
      referenceAnswers: ['Ice is less dense than water.'],
    });
    const grade = (version: number) => t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(learner), payload: { rubric: rubric(version), question: 'Why does ice float?', answer: 'It is less dense than water.' } });
    const calls = t.sim.stats().messages;
    const r = await grade(2 ** 31);
    expect(r.statusCode, r.body).toBe(422);
    expect(r.json().code).toBe('validation_failed');
    expect(t.sim.stats().messages).toBe(calls);
    expect(await t.store.db.selectFrom('usage_ledger').select('id').where('user_id', '=', 'nul-learner').where('feature', '=', 'grading').where('cost_micros', '>', 0).execute()).toHaveLength(1); // the NUL test's control grade alone
    const published = await t.app.inject({ method: 'POST', url: '/v1/grading/rubrics', headers: bearer(admin), payload: rubric(2 ** 31) });
    expect(published.statusCode, published.body).toBe(422);
    const ok = await grade(2 ** 31 - 1);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().rubric).toEqual({ id: 'big-version', version: 2 ** 31 - 1 });
    expect((await t.app.inject({ method: 'POST', url: '/v1/grading/rubrics', headers: bearer(admin), payload: rubric(2 ** 31 - 1) })).statusCode).toBe(201);
  });

  it('refuses a lone UTF-16 surrogate in graded text before any upstream call (the API answers 400 "no low surrogate"), and bills nothing', async () => {
    const learner = await t.premium('lone-learner'); // nothing billed yet: the ledger check below is this test's alone
    const calls = t.sim.stats().messages;
    const grade = (fields: Record<string, string>) =>
      t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: { ...bearer(learner), 'content-type': 'application/json' }, payload: JSON.stringify({ question: 'Why does ice float?', referenceAnswer: 'Ice is less dense than water.', answer: 'It is less dense.', ...fields }).replaceAll('LONE_HIGH', '\\ud800').replaceAll('LONE_LOW', '\\udfff') });
    expect422(await grade({ answer: 'It is less dense LONE_HIGH.' }), 'body.answer');
    expect422(await grade({ question: 'LONE_LOW Why?' }), 'body.question');
    expect422(await grade({ referenceAnswer: 'x LONE_LOWLONE_HIGH' }), 'body.referenceAnswer'); // a low before a high is no pair
    expect(t.sim.stats().messages).toBe(calls);
    expect(await t.store.db.selectFrom('usage_ledger').select('id').where('user_id', '=', 'lone-learner').execute()).toEqual([]);
    expect422(await t.app.inject({ method: 'POST', url: '/v1/progress/events', headers: { ...bearer(learner), 'content-type': 'application/json' }, payload: '{"itemId":"a\\udc00","correct":true}' }), 'body.itemId');
    expect422(await t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: { ...bearer(learner), 'content-type': 'application/json' }, payload: '{"goal":"\\ud83d"}' }), 'body.goal');
    // A whole pair, escaped or not, is a character like any other (control).
    const ok = await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: { ...bearer(learner), 'content-type': 'application/json' }, payload: '{"question":"Why does ice float?","referenceAnswer":"Ice is less dense than water.","answer":"It is less dense \\ud83d\\ude00 😀"}' });
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('answers a URL that does not decode with problem+json, like every other refusal', async () => {
    for (const url of ['/v1/%E0%A4%A', '/v1/grading/evaluations/%E0%A4%A']) {
      const r = await t.app.inject({ method: 'GET', url, headers: bearer(learner) });
      expect(r.statusCode).toBe(400);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(r.json()).toMatchObject({ code: 'bad_request', requestId: expect.any(String) });
    }
  });

  it('refuses days that do not exist, and keeps real ones', async () => {
    for (const url of ['/v1/usage/me', '/v1/admin/usage']) {
      for (const bad of ['2026-13-45', '2026-02-31', '2026-00-10', '0000-01-01', '1969-12-31']) {
        expect422(await t.app.inject({ method: 'GET', url: `${url}?to=${bad}`, headers: bearer(admin) }), 'querystring.to');
        expect422(await t.app.inject({ method: 'GET', url: `${url}?from=${bad}`, headers: bearer(admin) }), 'querystring.from');
      }
      const r = await t.app.inject({ method: 'GET', url: `${url}?from=2024-02-29&to=2024-03-01`, headers: bearer(admin) });
      expect(r.statusCode).toBe(200);
    }
    const me = (await t.app.inject({ method: 'GET', url: '/v1/usage/me?to=2026-03-01', headers: bearer(learner) })).json();
    expect(me).toMatchObject({ from: '2026-01-31', to: '2026-03-01' });
  });
});
