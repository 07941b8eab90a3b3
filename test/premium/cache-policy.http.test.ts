import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCatalog } from '../../src/features/learning-path/catalog-provider.js';
import { bearer } from '../helpers/test-app.js';
import { createSimulatedApp, gradeEveryAnswerValidly } from '../helpers/simulated-app.js';

type App = Awaited<ReturnType<typeof createSimulatedApp>>;
const body = { question: 'Why does a puddle disappear?', referenceAnswer: 'The water evaporates into the air.', answer: 'It evaporates in the sun.' };

describe("the policy's cache settings", () => {
  let t: App;
  let admin: string;
  beforeAll(async () => {
    t = await createSimulatedApp({ policy: { cache: { grading: { ttl: '30d', scope: 'user' } } } });
    admin = await t.premium('cache-admin', ['admin']);
    gradeEveryAnswerValidly(t.sim);
  });
  afterAll(() => t.close());

  const grade = (key: string) => t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: body });

  it('scope: user keeps grades per user, even for a feature whose answers may be shared', async () => {
    const alice = await t.premium('alice');
    const bob = await t.premium('bob');
    expect((await grade(alice)).json().source).toBe('llm');
    expect((await grade(bob)).json().source).toBe('llm'); // was 'cache': alice's grade
    expect((await grade(alice)).json().source).toBe('cache');
    expect((await grade(bob)).json().source).toBe('cache');
    // Per-user entries carry the user's tag, so purging the user reaches them.
    const purge = await t.app.inject({ method: 'POST', url: '/v1/admin/cache/invalidate', headers: bearer(admin), payload: { tags: ['user:alice'] } });
    expect(purge.json().purged).toBe(1);
    expect((await grade(alice)).json().source).toBe('llm');
    expect((await grade(bob)).json().source).toBe('cache');
  });

  it("purges one user's learning paths by user id, though the tag stores only its hash", async () => {
    const key = await t.premium('jane.doe@school.example');
    const path = () => t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: bearer(key), payload: {} });
    expect((await path()).json().source).toBe('llm');
    expect((await path()).json().source).toBe('cache');
    const purge = await t.app.inject({ method: 'POST', url: '/v1/admin/cache/invalidate', headers: bearer(admin), payload: { tags: ['user:jane.doe@school.example'] } });
    expect(purge.statusCode).toBe(200);
    expect(purge.json().purged).toBeGreaterThan(0);
    expect((await path()).json().source).toBe('llm');
  });

  it('purges a catalog version by tag over HTTP whatever the import accepted in it (+, spaces), and names a malformed tag', async () => {
    const version = '2026.11+build.7 final';
    const imported = await t.app.inject({ method: 'PUT', url: '/v1/admin/catalog', headers: bearer(admin), payload: { ...demoCatalog(), version } });
    expect(imported.statusCode, imported.body).toBe(200);
    const key = await t.premium('catalog-plus-learner');
    const path = () => t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: bearer(key), payload: {} });
    expect((await path()).json().source).toBe('llm');
    expect((await path()).json().source).toBe('cache');
    const purge = await t.app.inject({ method: 'POST', url: '/v1/admin/cache/invalidate', headers: bearer(admin), payload: { tags: [`catalog:${version}`] } });
    expect(purge.statusCode, purge.body).toBe(200);
    expect(purge.json().purged).toBeGreaterThan(0);
    expect((await path()).json().source).toBe('llm');
    for (const tag of ['catalog:', 'rubric:a+b', 'no-kind']) {
      const bad = await t.app.inject({ method: 'POST', url: '/v1/admin/cache/invalidate', headers: bearer(admin), payload: { tags: ['feature:grading', tag] } });
      expect(bad.statusCode, tag).toBe(422);
      expect(bad.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(bad.json().errors).toEqual([{ path: 'body.tags.1', message: expect.stringMatching(/^(catalog:VERSION needs the version|expected KIND:VALUE)/) }]);
    }
  });
});

describe('cache keys of what a request sends', () => {
  let t: App;
  beforeAll(async () => {
    t = await createSimulatedApp();
    gradeEveryAnswerValidly(t.sim);
  });
  afterAll(() => t.close());

  it('grades with an inline rubric whose ids differ only in Unicode composition, never a 500', async () => {
    const key = await t.premium('nfc-ids');
    const criterion = (id: string) => ({ id, name: `Criterion ${id}`, description: '', levels: [{ id: 'ok', points: 1, descriptor: 'Right.' }] });
    // "é" precomposed and "e" + combining acute: two ids, one after NFC.
    const rubric = { id: 'inline-nfc', version: 1, title: 'Accents', criteria: [criterion('\u00e9'), criterion('e\u0301')], referenceAnswers: ['x'], anchors: [{ answer: 'x', levels: { '\u00e9': 'ok', 'e\u0301': 'ok' } }] };
    const res = await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(key), payload: { ...body, rubric } });
    expect(res.statusCode).toBe(200); // was 500: the cache key threw on the colliding ids
  });
});
