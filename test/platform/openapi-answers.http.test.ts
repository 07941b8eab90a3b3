import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { STORE_KINDS } from '../helpers/databases.js';
import { createSimulatedApp, gradeEveryAnswerValidly } from '../helpers/simulated-app.js';
import { bearer, createTestApp, type TestApp } from '../helpers/test-app.js';

type Json = Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

interface Operation {
  key: string;
  method: string;
  path: string;
  op: Json;
}

// What an integrator's generated client relies on: every answer the service really gives,
// refusals included, is one the OpenAPI document lists for that operation, in a media type
// it lists, with a body its schema accepts, and a 429 or 503 says when to retry.
// openapi.http.test.ts drives the success answers; this drives the refusals, on every
// operation of the document rather than on a chosen few, and the premium answers that only
// an upstream (the simulator) gives.
class Checker {
  readonly ajv: Ajv2020;
  readonly mismatches: string[] = [];
  constructor(readonly doc: Json) {
    this.ajv = new Ajv2020({ strict: false, allowUnionTypes: true, validateFormats: false });
    for (const [name, schema] of Object.entries((doc.components?.schemas ?? {}) as Json)) this.ajv.addSchema(forAjv(schema) as object, `urn:tutorgate:schema:${name}`);
  }

  operations(): Operation[] {
    return Object.entries(this.doc.paths as Record<string, Json>).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([m]) => METHODS.includes(m))
        .map(([m, op]) => ({ key: `${m.toUpperCase()} ${path}`, method: m.toUpperCase(), path, op: op as Json })),
    );
  }

  /** Records every way the answer departs from the document; the test asserts none did. */
  check(what: string, o: Operation, res: LightMyRequestResponse): void {
    const at = `${o.key} (${what}) answered ${res.statusCode}`;
    const documented = o.op.responses[String(res.statusCode)] as Json | undefined;
    if (!documented) {
      this.mismatches.push(`${at}, not documented (${Object.keys(o.op.responses).join(', ')}): ${res.body.slice(0, 160)}`);
      return;
    }
    if (res.headers['retry-after'] !== undefined && !documented.headers?.['Retry-After']) this.mismatches.push(`${at} with Retry-After, which the document does not list for it`);
    if (res.statusCode === 429 || res.statusCode === 503) {
      if (!/^[1-9]\d*$/.test(String(res.headers['retry-after'] ?? ''))) this.mismatches.push(`${at} without a Retry-After in seconds`);
      if (!documented.headers?.['Retry-After']) this.mismatches.push(`${at}: the document gives it no Retry-After header`);
    }
    if (!documented.content) {
      if (res.body !== '') this.mismatches.push(`${at} with a body, documented without one`);
      return;
    }
    const type = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
    const media = Object.entries(documented.content as Json).find(([t]) => t.split(';')[0]!.trim() === type)?.[1] as Json | undefined;
    if (!media) {
      this.mismatches.push(`${at} as ${type}, documented as ${Object.keys(documented.content).join(', ')}`);
      return;
    }
    if (!type.endsWith('json')) return;
    const validate = this.ajv.compile(forAjv(media.schema) as object);
    if (!validate(res.json())) this.mismatches.push(`${at}: the body does not match the documented schema: ${JSON.stringify(validate.errors).slice(0, 300)}`);
  }
}

// Component refs become absolute ids Ajv knows, so one schema can be compiled on its own.
const forAjv = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"urn:tutorgate:schema:'));
const takesBearer = (o: Operation) => (o.op.security as Json[]).some((r) => 'bearer' in r);
const urlOf = (o: Operation, param: string) => o.path.replace(/\{[^}]+\}/g, param);

// Fastify's route tree as printRoutes draws it, as "METHOD /path" (HEAD left out: Fastify
// adds it to every GET, and OpenAPI documents the GET).
function registeredRoutes(tree: string): string[] {
  const stack: string[] = [];
  const out: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^(.*?)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!m) continue;
    const depth = (m[1]!.length) / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + m[2]!;
    stack[depth] = path;
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim()).filter((s) => s && s !== 'HEAD')) out.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
  }
  return out;
}

// Viewers and assets, not API operations: the document itself and its viewer, the dashboard page
// with its tab icon, and the browsers' /favicon.ico.
const UNDOCUMENTED = [/^GET \/docs(\/.*)?$/, /^GET \/openapi\.json$/, /^GET \/admin(\/app\.(js|css)|\/favicon\.svg)?$/, /^GET \/favicon\.ico$/];

describe.each(STORE_KINDS)('every refusal the service gives is in the OpenAPI document, on %s', (kind) => {
  let t: TestApp;
  let c: Checker;
  let admin: string;
  let learner: string;
  let free: string;

  beforeAll(async () => {
    t = await createTestApp({ store: kind });
    admin = await t.premium(`oa-${kind}-admin`, ['admin']);
    learner = await t.premium(`oa-${kind}-learner`);
    free = await t.free(`oa-${kind}-free`);
    c = new Checker((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
  });
  afterAll(async () => t.close());
  beforeEach(() => {
    if (c) c.mismatches.length = 0;
  });

  it('documents every route it serves, but for the viewers and assets', () => {
    const routes = registeredRoutes(t.app.printRoutes({ commonPrefix: false }));
    expect(routes).toContain('GET /v1/admin/flags-analytics');
    const documented = new Set(c.operations().map((o) => o.key));
    expect(routes.filter((r) => !documented.has(r) && !UNDOCUMENTED.some((re) => re.test(r)))).toEqual([]);
    expect([...documented].filter((d) => !routes.includes(d))).toEqual([]);
  });

  it('no credentials, a wrong key, or two Authorization headers', async () => {
    for (const o of c.operations().filter(takesBearer)) {
      const url = urlOf(o, 'nosuch');
      const none = await t.app.inject({ method: o.method as 'GET', url });
      expect(none.statusCode, o.key).toBe(401);
      c.check('no credentials', o, none);
      const wrong = await t.app.inject({ method: o.method as 'GET', url, headers: bearer('tg_not_a_key') });
      expect(wrong.statusCode, o.key).toBe(401);
      c.check('a wrong key', o, wrong);
      // Two header lines, as light-my-request sends an array (Fastify's types allow one value).
      const two = await t.app.inject({ method: o.method, url, headers: { authorization: [`Bearer ${admin}`, `Bearer ${learner}`] } } as unknown as InjectOptions);
      expect(two.json().code, o.key).toBe('ambiguous_credentials');
      c.check('two Authorization headers', o, two);
    }
    expect(c.mismatches).toEqual([]);
  });

  it('a caller without the permission or the tier', async () => {
    let forbidden = 0;
    for (const o of c.operations().filter(takesBearer)) {
      for (const [who, key] of [['a learner', learner], ['a free user', free]] as const) {
        const res = await t.app.inject({ method: o.method as 'GET', url: urlOf(o, 'nosuch'), headers: bearer(key), ...(WITH_BODY.has(o.method) ? { payload: {} } : {}) });
        if (res.statusCode === 403) forbidden++;
        c.check(who, o, res);
      }
    }
    expect(forbidden).toBeGreaterThan(20);
    expect(c.mismatches).toEqual([]);
  });

  it('an unknown resource, a path segment over the length limit, a NUL in a path segment', async () => {
    for (const o of c.operations().filter((o) => o.path.includes('{'))) {
      const payload = WITH_BODY.has(o.method) ? { payload: {} } : {};
      const unknown = await t.app.inject({ method: o.method as 'GET', url: urlOf(o, 'nosuch'), headers: bearer(admin), ...payload });
      c.check('an unknown id', o, unknown);
      const long = await t.app.inject({ method: o.method as 'GET', url: urlOf(o, 'x'.repeat(201)), headers: bearer(admin), ...payload });
      expect(long.statusCode, o.key).toBe(414);
      c.check('a 201-character path segment', o, long);
      const nul = await t.app.inject({ method: o.method as 'GET', url: urlOf(o, 'a%00b'), headers: bearer(admin), ...payload });
      expect(nul.statusCode, o.key).toBe(422);
      c.check('a NUL in a path segment', o, nul);
    }
    expect(c.mismatches).toEqual([]);
  });

  it('bodies that cannot be read, sent to every operation that may carry one', async () => {
    const json = { ...bearer(admin), 'content-type': 'application/json' };
    const bodies: [string, Json, string | Buffer][] = [
      ['invalid JSON', json, '{"answer":'],
      ['JSON that is not UTF-8', json, Buffer.from('{"answer":"caf\xe9"}', 'latin1')],
      ['a body over the size limit', json, JSON.stringify({ answer: 'x'.repeat(70_000) })],
      ['a body as XML', { ...bearer(admin), 'content-type': 'application/xml' }, '<answer/>'],
      ['a gzip-encoded body', { ...json, 'content-encoding': 'gzip' }, '{}'],
      ['a NUL in the body', json, '{"answer":"a\\u0000b"}'],
      ['a prototype key', json, '{"__proto__":{"admin":true}}'],
      ['a JSON array', json, '[]'],
    ];
    for (const o of c.operations().filter((o) => WITH_BODY.has(o.method))) {
      for (const [what, headers, payload] of bodies) {
        const res = await t.app.inject({ method: o.method as 'POST', url: urlOf(o, 'nosuch'), headers, payload });
        expect(res.statusCode, `${o.key} ${what}`).not.toBe(500);
        c.check(what, o, res);
      }
    }
    expect(c.mismatches).toEqual([]);
  });

  it('query parameters: a repeated one is refused where the route reads the query, a NUL one ignored where it does not', async () => {
    for (const o of c.operations().filter((o) => o.method === 'GET' && !o.path.includes('{'))) {
      const readsQuery = ((o.op.parameters ?? []) as Json[]).some((p) => p.in === 'query');
      const repeated = await t.app.inject({ method: 'GET', url: `${o.path}?limit=1&limit=2&from=2026-01-01&from=2026-01-02`, headers: bearer(admin) });
      if (readsQuery) expect(repeated.statusCode, o.key).toBe(422);
      c.check('a repeated query parameter', o, repeated);
      const nul = await t.app.inject({ method: 'GET', url: `${o.path}?unused=a%00b`, headers: bearer(admin) });
      c.check('a NUL in a query parameter', o, nul);
    }
    expect(c.mismatches).toEqual([]);
  });

  // Last: a draining instance stays draining.
  it('a draining instance: 503 problem+json with Retry-After on every operation', async () => {
    t.app.startDraining();
    for (const o of c.operations()) {
      const res = await t.app.inject({ method: o.method as 'GET', url: urlOf(o, 'x'), headers: bearer(admin) });
      expect(res.json().code, o.key).toBe('shutting_down');
      c.check('draining', o, res);
    }
    expect(c.mismatches).toEqual([]);
  });
});

describe.each(STORE_KINDS)('limits, budgets and the credential gate answer as documented, on %s', (kind) => {
  const grading = { question: 'Why does a puddle dry up?', referenceAnswer: 'The water evaporates into the air.', answer: 'The water evaporates.' };
  const payloadOf = (o: Operation) => (o.path === '/v1/grading/evaluations' ? grading : {});
  // The operations through the premium pipeline: their answers carry the RateLimit headers.
  const limitedOps = (c: Checker) => c.operations().filter((o) => o.op.responses['200']?.headers?.RateLimit);

  it('over a tier limit: 429 rate_limited with Retry-After; the answers before it carry RateLimit headers', async () => {
    const t = await createSimulatedApp({ store: kind, policy: { limits: { premium: { requestsPerMinute: 1, requestsPerHour: 1000, tokensPerDay: 10_000_000, concurrent: 20 } } } });
    try {
      gradeEveryAnswerValidly(t.sim);
      const c = new Checker((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
      const ops = limitedOps(c);
      expect(ops.map((o) => o.key).sort()).toEqual(['POST /v1/grading/evaluations', 'POST /v1/learning-paths']);
      for (const o of ops) {
        const key = await t.premium();
        const first = await t.app.inject({ method: o.method as 'POST', url: o.path, headers: bearer(key), payload: payloadOf(o) });
        expect(first.statusCode, o.key).toBe(200);
        expect(first.headers, o.key).toMatchObject({ ratelimit: expect.any(String), 'ratelimit-policy': expect.any(String) });
        c.check('the first request', o, first);
        const second = await t.app.inject({ method: o.method as 'POST', url: o.path, headers: bearer(key), payload: payloadOf(o) });
        expect(second.json(), o.key).toMatchObject({ status: 429, code: 'rate_limited' });
        expect(second.headers, o.key).toMatchObject({ ratelimit: expect.any(String), 'ratelimit-policy': expect.any(String) });
        c.check('the second request in a minute', o, second);
      }
      expect(c.mismatches).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('a spent budget with onExhausted: reject: 429 budget_exhausted with Retry-After', async () => {
    const t = await createSimulatedApp({ store: kind, policy: { budgets: { globalDailyUsd: 0, onExhausted: 'reject' } } });
    try {
      const c = new Checker((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
      const key = await t.premium();
      for (const o of limitedOps(c)) {
        const res = await t.app.inject({ method: o.method as 'POST', url: o.path, headers: bearer(key), payload: payloadOf(o) });
        expect(res.json(), o.key).toMatchObject({ status: 429, code: 'budget_exhausted' });
        c.check('a spent budget', o, res);
      }
      expect(c.mismatches).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('too many failed credentials from one address: 429 with Retry-After on every authenticated operation and on sign-in', async () => {
    const t = await createTestApp({ store: kind, env: { TUTORGATE_AUTH_FAILURES_PER_MINUTE: '1' } });
    try {
      const c = new Checker((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
      const admin = await t.premium(undefined, ['admin']);
      const me = c.operations().find((o) => o.key === 'GET /v1/me')!;
      c.check('the failure that reaches the limit', me, await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer('tg_not_a_key') }));
      for (const o of c.operations().filter(takesBearer)) {
        const res = await t.app.inject({ method: o.method as 'GET', url: urlOf(o, 'x'), headers: bearer(admin) });
        expect(res.json(), o.key).toMatchObject({ status: 429, code: 'rate_limited', limit: 'authFailuresPerMinute' });
        c.check('a locked-out address', o, res);
      }
      const signIn = c.operations().find((o) => o.key === 'POST /admin/session')!;
      const refused = await t.app.inject({ method: 'POST', url: '/admin/session', payload: { token: admin } });
      expect(refused.statusCode).toBe(429);
      c.check('a locked-out address', signIn, refused);
      expect(c.mismatches).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

// openapi.http.test.ts runs without an upstream key, so every premium answer it checks comes
// from the rules. These come from "Claude" (the simulator), from the cache, and from the
// rules after an upstream failure, and each must match the same documented schema.
describe.each(STORE_KINDS)('premium answers from the LLM, the cache and the fallback match the document, on %s', (kind) => {
  it('grades, learning paths, /v1/me and usage', async () => {
    const t = await createSimulatedApp({ store: kind });
    try {
      gradeEveryAnswerValidly(t.sim);
      const c = new Checker((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json());
      const op = (key: string) => c.operations().find((o) => o.key === key)!;
      const key = await t.premium();
      const free = await t.free();
      const admin = await t.premium(undefined, ['admin']);
      const ask = (method: 'GET' | 'POST', url: string, who: string, payload?: object) => t.app.inject({ method, url, headers: bearer(who), ...(payload ? { payload } : {}) });
      const grading = { question: 'Why does a puddle dry up?', referenceAnswer: 'The water evaporates into the air.', answer: 'The water evaporates.' };

      const sources: string[] = [];
      const grade = async (what: string, payload: object) => {
        const res = await ask('POST', '/v1/grading/evaluations', key, payload);
        c.check(what, op('POST /v1/grading/evaluations'), res);
        sources.push(`${res.json().source}${res.json().fallbackReason ? `:${res.json().fallbackReason}` : ''}`);
        c.check(`${what}, read back`, op('GET /v1/grading/evaluations/{id}'), await ask('GET', `/v1/grading/evaluations/${res.json().id}`, key));
      };
      await grade('graded by the LLM', grading);
      await grade('the same answer again', grading);
      t.sim.faults.next({ kind: 'status', status: 500 }, 10);
      await grade('the upstream failing', { ...grading, answer: 'The sun heats the water until it is vapour.' });
      t.sim.faults.clear();
      await grade('a blank answer', { ...grading, answer: ' \u200b ' });
      expect(sources).toEqual(['llm', 'cache', 'rules:upstream_failure', 'rules:blank_input']);

      const paths: string[] = [];
      for (const [what, who, payload] of [['a premium learner', key, { count: 3, preferredKinds: ['exercise', 'lesson'] }], ['the same again', key, { count: 3, preferredKinds: ['exercise', 'lesson'] }], ['a free learner', free, {}]] as const) {
        const res = await ask('POST', '/v1/learning-paths', who, payload);
        c.check(what, op('POST /v1/learning-paths'), res);
        paths.push(res.statusCode !== 200 ? res.body.slice(0, 200) : `${res.json().source}${res.json().fallbackReason ? `:${res.json().fallbackReason}` : ''}`);
      }
      expect(paths).toEqual(['llm', 'cache', 'rules:not_entitled']);
      const noSkill = await ask('POST', '/v1/learning-paths', key, { goal: 'no-such-skill' });
      expect(noSkill.json()).toMatchObject({ status: 422, errors: [{ path: 'goal' }] });
      c.check('a goal that is no skill', op('POST /v1/learning-paths'), noSkill);

      for (const who of [key, free]) c.check('after premium calls', op('GET /v1/me'), await ask('GET', '/v1/me', who));
      const usage = await ask('GET', '/v1/usage/me', key);
      expect(usage.json().totals.costUsd).toBeGreaterThan(0);
      c.check('after LLM calls', op('GET /v1/usage/me'), usage);
      c.check('grouped every way', op('GET /v1/admin/usage'), await ask('GET', '/v1/admin/usage?groupBy=user,feature,model,day&top=5', admin));
      c.check('after LLM calls', op('GET /v1/admin/ops'), await ask('GET', '/v1/admin/ops', admin));
      // An erasure while a metered call of the learner's is in flight: 409, retry later.
      const learner = (await ask('GET', '/v1/me', key)).json().userId as string;
      const { metering, policy } = t.container;
      const held = await metering.reserve({ userId: learner, feature: 'grading', model: policy.models.grading!, worstCaseMicros: 1000, lines: [] });
      const inFlight = await t.app.inject({ method: 'DELETE', url: `/v1/admin/users/${learner}`, headers: bearer(admin) });
      if (held.ok) await metering.release(held.reservation);
      expect(inFlight.json()).toMatchObject({ status: 409, code: 'call_in_flight' });
      c.check('a call in flight', op('DELETE /v1/admin/users/{id}'), inFlight);
      expect(c.mismatches).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
