import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from '../helpers/test-app.js';
import { twoInstancesOnPostgres } from '../helpers/two-instances.js';

const put = (t: TestApp, key: string, flag: string, body: unknown) => t.app.inject({ method: 'PUT', url: `/v1/admin/flags/${flag}`, headers: bearer(key), payload: body as object });
const get = async (t: TestApp, key: string, flag: string) => (await t.app.inject({ method: 'GET', url: `/v1/admin/flags/${flag}`, headers: bearer(key) })).json();
const audit = async (t: TestApp, key: string, flag: string) => (await t.app.inject({ method: 'GET', url: `/v1/admin/flags/${flag}/audit`, headers: bearer(key) })).json().entries as { before: Record<string, unknown> | null; after: Record<string, unknown> }[];

describe('flag changes', () => {
  let t: TestApp;
  let admin: string;
  beforeAll(async () => {
    t = await createTestApp({
      policy: { flags: { learning_path: { enabled: true, rollout: 25, ramp: [{ at: '2026-11-01T00:00:00Z', rollout: 50 }, { at: '2026-11-08T00:00:00Z', rollout: 100 }] } } },
    });
    t.clock.ms = Date.parse('2026-11-20T12:00:00Z');
    admin = await t.premium('flag-admin', ['admin']);
  });
  afterAll(() => t.close());

  it('two changes made at once both hold: a kill switch is not undone by a rollout change', async () => {
    const [off, half] = await Promise.all([put(t, admin, 'grading', { enabled: false }), put(t, admin, 'grading', { rollout: 50 })]);
    expect([off.statusCode, half.statusCode]).toEqual([200, 200]);
    expect([off.json().version, half.json().version].sort()).toEqual([1, 2]);
    expect(await get(t, admin, 'grading')).toMatchObject({ enabled: false, rollout: 50, version: 2 });
    const [last, first] = await audit(t, admin, 'grading');
    expect(last!.before).toEqual(first!.after); // each change is recorded against the flag it changed
  });

  it('a new rollout ends a ramp whose steps have passed, instead of being overridden by them', async () => {
    const before = (await t.app.inject({ method: 'GET', url: '/v1/admin/flags/learning_path/evaluate?userId=u1', headers: bearer(admin) })).json();
    expect(before.rolloutInForce).toBe(100);
    expect((await put(t, admin, 'learning_path', { rollout: 10 })).json()).not.toHaveProperty('ramp');
    const after = (await t.app.inject({ method: 'GET', url: '/v1/admin/flags/learning_path/evaluate?userId=u1', headers: bearer(admin) })).json();
    expect(after.rolloutInForce).toBe(10);
    // a rollout given together with a ramp keeps the ramp
    const both = (await put(t, admin, 'learning_path', { rollout: 5, ramp: [{ at: '2026-12-01T00:00:00Z', rollout: 30 }] })).json();
    expect(both).toMatchObject({ rollout: 5, ramp: [{ rollout: 30 }] });
  });

  it('refuses a change to a flag the policy does not declare: a misspelt kill switch must not answer 200', async () => {
    const r = await put(t, admin, 'grding', { enabled: false });
    expect(r.statusCode).toBe(404);
    expect(r.json().detail).toContain('"grading"');
    expect((await t.app.inject({ method: 'GET', url: '/v1/admin/flags/grding', headers: bearer(admin) })).statusCode).toBe(404);
  });

  it('null removes an experiment, its targeting rules or its ramp', async () => {
    expect((await put(t, admin, 'learning_path', { variants: [{ key: 'control', weight: 1 }, { key: 'llm', weight: 1 }] })).json().variants).toHaveLength(2);
    const ended = (await put(t, admin, 'learning_path', { variants: null, ramp: null })).json();
    expect(ended).not.toHaveProperty('variants');
    expect(ended).not.toHaveProperty('ramp');
    expect((await put(t, admin, 'learning_path', { variants: [] })).statusCode).toBe(422); // an empty experiment is not how to end one
  });
});

describe('flag changes from two instances on one Postgres, each with its own copy of the flags', () => {
  const two = twoInstancesOnPostgres();

  it("a change on one instance is made to the stored flag, not to the other's stale copy", async () => {
    const keyA = await two.a.premium('pg-flag-admin', ['admin']);
    expect((await put(two.a, keyA, 'grading', { enabled: false })).statusCode).toBe(200);
    // b has not reloaded its copy (no Redis, polling not yet due) and changes the rollout
    const onB = (await put(two.b, keyA, 'grading', { rollout: 30 })).json();
    expect(onB).toMatchObject({ enabled: false, rollout: 30, version: 2 });
    const [last] = await audit(two.b, keyA, 'grading');
    expect(last!.before).toMatchObject({ enabled: false, version: 1 });
  });
});
