import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from '../helpers/test-app.js';

// The service's real route table: a wrong method at a known path is 405 with Allow, an unknown
// path stays 404, and neither answer leaks past problem+json.
describe('routing answers', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t.close());

  it('answers a wrong method at a known path 405, naming the methods it takes in Allow', async () => {
    const key = await t.premium();
    const r = await t.app.inject({ method: 'GET', url: '/v1/grading/evaluations?x=1', headers: bearer(key) });
    expect(r.statusCode).toBe(405);
    expect(r.headers['content-type']).toContain('application/problem+json');
    expect(r.headers['allow']).toBe('POST');
    const body = r.json();
    expect(body).toMatchObject({ status: 405, code: 'method_not_allowed', allowed: ['POST'] });
    expect(body.detail).toBe('/v1/grading/evaluations does not take GET; it takes POST.');
    expect(body.requestId).toBeTruthy();
  });

  it('matches parameterised paths and lists every method the path takes', async () => {
    const r = await t.app.inject({ method: 'DELETE', url: '/v1/admin/flags/grading' });
    expect(r.statusCode).toBe(405);
    const allowed = r.headers['allow']?.toString().split(', ') ?? [];
    // GET (and the HEAD Fastify adds for it) reads a flag, PUT changes it.
    expect(allowed).toEqual(expect.arrayContaining(['GET', 'HEAD', 'PUT']));
    expect(allowed).not.toContain('DELETE');
  });

  it("names GET for a plugin's root route with and without the trailing slash", async () => {
    for (const url of ['/docs', '/docs/']) {
      const r = await t.app.inject({ method: 'PUT', url });
      expect(r.statusCode, url).toBe(405);
      expect(r.headers['allow']?.toString().split(', '), url).toEqual(expect.arrayContaining(['GET', 'HEAD']));
    }
  });

  it('keeps 404 for a path no route has, whatever the method', async () => {
    for (const method of ['GET', 'POST', 'DELETE'] as const) {
      const r = await t.app.inject({ method, url: '/v1/nowhere' });
      expect(r.statusCode).toBe(404);
      expect(r.json()).toMatchObject({ code: 'not_found' });
      expect(r.headers['allow']).toBeUndefined();
    }
    // A prefix of a real route is not the route.
    expect((await t.app.inject({ method: 'PUT', url: '/v1/grading/evaluation' })).statusCode).toBe(404);
  });

  it('keeps 404 when a route that takes the method finds nothing (a missing file of the API viewer)', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      const r = await t.app.inject({ method, url: '/docs/static/no-such-file.js' });
      expect(r.statusCode, method).toBe(404);
      expect(r.headers['allow'], method).toBeUndefined();
    }
    expect((await t.app.inject({ method: 'GET', url: '/docs/static/no-such-file.js' })).json()).toMatchObject({ code: 'not_found' });
    expect((await t.app.inject({ method: 'GET', url: '/docs/static/index.css' })).statusCode).toBe(200);
  });

  // Generated clients often label every request JSON; an operation that takes no body must
  // work when called with that label and nothing sent, and one that takes a body still says so.
  it('takes an empty body labelled JSON as no body where the operation takes none', async () => {
    const admin = await t.premium(undefined, ['admin']);
    const user = await t.free();
    const userId = (await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(user) })).json().userId;
    const json = { ...bearer(admin), 'content-type': 'application/json' };
    const key = await t.app.inject({ method: 'POST', url: `/v1/admin/users/${userId}/keys`, headers: json, payload: '' });
    expect(key.statusCode, key.body).toBe(201);
    const revoked = await t.app.inject({ method: 'DELETE', url: `/v1/admin/users/${userId}/keys/${key.json().id}`, headers: json, payload: '' });
    expect(revoked.statusCode, revoked.body).toBe(204);
    expect((await t.app.inject({ method: 'POST', url: '/admin/logout', headers: { 'content-type': 'application/json' }, payload: '' })).statusCode).toBe(204);
    const create = await t.app.inject({ method: 'POST', url: '/v1/admin/users', headers: json, payload: '' });
    expect(create.json()).toMatchObject({ status: 400, code: 'invalid_json', detail: 'The JSON body is empty.' });
  });

  it('answers a path segment over the router limit 414 as problem+json naming the limit', async () => {
    const r = await t.app.inject({ method: 'GET', url: `/v1/admin/users/${'a'.repeat(201)}` });
    expect(r.statusCode).toBe(414);
    expect(r.headers['content-type']).toContain('application/problem+json');
    expect(r.json()).toMatchObject({ status: 414, title: 'URI Too Long', code: 'uri_too_long', detail: expect.stringContaining('200 characters') });
  });

  it('checks the method before authentication, so a wrong method never reaches a handler', async () => {
    const r = await t.app.inject({ method: 'PUT', url: '/v1/me' });
    expect(r.statusCode).toBe(405);
    expect(r.headers['allow']).toContain('GET');
  });
});

describe('a request that arrives while the instance drains', () => {
  it('is refused 503 as problem+json with Retry-After, and the connection closes', async () => {
    const t = await createTestApp();
    try {
      const key = await t.premium();
      expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(key) })).statusCode).toBe(200);
      t.app.startDraining();
      const r = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(key) });
      expect(r.statusCode).toBe(503);
      expect(r.headers['content-type']).toContain('application/problem+json');
      expect(r.headers['retry-after']).toBe('1');
      expect(r.headers['connection']).toBe('close');
      expect(r.json()).toMatchObject({ status: 503, code: 'shutting_down' });
    } finally {
      await t.close();
    }
  });
});
