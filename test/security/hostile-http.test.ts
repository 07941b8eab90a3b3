import { connect, type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign as signWebhook } from '../../src/features/identity/billing-webhook.js';
import { bearer, createTestApp, TEST_WEBHOOK_SECRET, type TestApp } from '../helpers/test-app.js';
import { expectProblem } from './security-support.js';

// Hostile requests the attack and fuzz suites did not send (found in session 17 over a real
// socket): encoded bodies, repeated headers and query parameters, dot-segment user ids and
// the docs' static files refusing a path. Each case checks the answer and that nothing
// was recorded.
describe('hostile HTTP beyond the attack suite', { timeout: 60_000 }, () => {
  let t: TestApp;
  let port: number;
  let learner: string;
  let other: string;
  let admin: string;
  const ITEM = 'whole-numbers-practice-1'; // of the demo catalog

  beforeAll(async () => {
    t = await createTestApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
    learner = await t.premium('hx-learner');
    other = await t.premium('hx-other');
    admin = await t.premium('hx-admin', ['admin']);
  });
  afterAll(async () => t.close());

  const eventsOf = async (key: string) => ((await t.app.inject({ method: 'GET', url: '/v1/learners/me/mastery', headers: bearer(key) })).json() as { events: number }).events;
  const postEvent = (headers: Record<string, string>, payload: string | Buffer) =>
    t.app.inject({ method: 'POST', url: '/v1/progress/events', headers: { ...bearer(learner), 'content-type': 'application/json', ...headers }, payload });

  // One request over a real socket, headers written exactly as given (inject cannot repeat a header).
  const exchange = (head: string, body = '') =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(`${head.replaceAll('\n', '\r\n')}Host: x\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
      let out = '';
      socket.on('data', (d: Buffer) => (out += d.toString('utf8')));
      socket.on('close', () => {
        const [statusLine, rest] = [out.slice(0, out.indexOf('\r\n')), out.slice(out.indexOf('\r\n\r\n') + 4)];
        resolve({ status: Number(statusLine.split(' ')[1]), body: JSON.parse(rest) as Record<string, unknown> });
      });
      socket.on('error', reject);
    });

  describe('Content-Encoding', () => {
    const event = JSON.stringify({ itemId: ITEM, correct: true });

    it.each([
      ['a gzip body (was 400 "not valid JSON")', 'gzip', gzipSync(event)],
      ['plain JSON labelled br (was recorded as if unlabelled)', 'br', Buffer.from(event)],
      ['plain JSON labelled deflate', 'deflate', Buffer.from(event)],
      ['a chain of codings', 'identity, gzip', gzipSync(event)],
    ])('refuses %s with 415 and Accept-Encoding: identity, recording nothing', async (_name, coding, body) => {
      const before = await eventsOf(learner);
      const r = await postEvent({ 'content-encoding': coding }, body);
      expectProblem(r, 415, 'unsupported_media_type');
      expect(r.headers['accept-encoding']).toBe('identity');
      expect(r.json().detail).toContain('send the body uncompressed');
      expect(await eventsOf(learner)).toBe(before);
    });

    it('accepts Content-Encoding: identity, and ignores the header on a request without a body (control)', async () => {
      const before = await eventsOf(learner);
      expect((await postEvent({ 'content-encoding': 'identity' }, event)).statusCode).toBe(202);
      expect(await eventsOf(learner)).toBe(before + 1);
      expect((await t.app.inject({ method: 'GET', url: '/v1/me', headers: { ...bearer(learner), 'content-encoding': 'gzip' } })).statusCode).toBe(200);
    });
  });

  describe('repeated Authorization headers', () => {
    it('refuses two different credentials with 400 ambiguous_credentials (Node kept the first; a proxy may read the last), recording nothing', async () => {
      const before = await eventsOf(learner);
      const body = JSON.stringify({ itemId: ITEM, correct: true });
      const r = await exchange(`POST /v1/progress/events HTTP/1.1\nAuthorization: Bearer ${learner}\nAuthorization: Bearer ${other}\nContent-Type: application/json\n`, body);
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ status: 400, code: 'ambiguous_credentials' });
      expect(await eventsOf(learner)).toBe(before);
      expect(await eventsOf(other)).toBe(0);
    });

    it('refuses a learner key followed by an admin key on an admin route', async () => {
      const r = await exchange(`GET /v1/admin/users HTTP/1.1\nAuthorization: Bearer ${learner}\nAuthorization: Bearer ${admin}\n`);
      expect(r.body).toMatchObject({ status: 400, code: 'ambiguous_credentials' });
    });

    it('accepts one Authorization header over the same socket path (control)', async () => {
      const r = await exchange(`GET /v1/me HTTP/1.1\nAuthorization: Bearer ${learner}\n`);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ userId: 'hx-learner' });
    });
  });

  describe('repeated query parameters', () => {
    it.each([
      ['/v1/admin/users?limit=1&limit=2', 'querystring.limit'],
      ['/v1/admin/usage?groupBy=user&groupBy=day', 'querystring.groupBy'],
      ['/v1/admin/flags/grading/evaluate?userId=a&userId=b', 'querystring.userId'],
    ])('%s is a 422 that names the parameter and says it was given twice', async (url, path) => {
      const r = await t.app.inject({ method: 'GET', url, headers: bearer(admin) });
      expectProblem(r, 422, 'validation_failed');
      expect(r.json().errors).toEqual([{ path, message: 'given 2 times; give it once' }]);
    });

    it('takes each parameter once (control)', async () => {
      expect((await t.app.inject({ method: 'GET', url: '/v1/admin/users?limit=2', headers: bearer(admin) })).statusCode).toBe(200);
    });
  });

  describe('user ids that are dot segments', () => {
    // fetch, browsers, the dashboard and curl resolve /v1/admin/users/.. to /v1/admin/ (even
    // written %2e%2e), so such a user could never be looked up, changed or erased by id.
    it.each(['.', '..'])('refuses to create user %j through the admin API', async (id) => {
      const r = await t.app.inject({ method: 'POST', url: '/v1/admin/users', headers: bearer(admin), payload: { id } });
      expectProblem(r, 422, 'validation_failed');
      expect(r.json().detail, 'the refusal says why an id of dots is refused').toContain('not . or .. alone');
      expect(await t.container.identity.repo.getUser(id)).toBeFalsy();
    });

    it('a JWT subject ".." is refused and provisions nobody', async () => {
      const r = await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(await t.jwt('..')) });
      expect(r.statusCode).toBe(401);
      expect(await t.container.identity.repo.getUser('..')).toBeFalsy();
    });

    it('a signed billing event for user "." is refused and provisions nobody', async () => {
      const now = Math.floor(t.clock.now() / 1000);
      const body = JSON.stringify({ id: 'evt_dot', type: 'subscription.created', created: now, data: { userId: '.', currentPeriodEnd: now + 86_400 } });
      const r = await t.app.inject({ method: 'POST', url: '/v1/webhooks/billing', headers: { 'content-type': 'application/json', 'tutorgate-signature': `t=${now},v1=${signWebhook(TEST_WEBHOOK_SECRET, String(now), body)}` }, payload: body });
      expect(r.statusCode).toBeGreaterThanOrEqual(400);
      expect(r.statusCode).toBeLessThan(500);
      expect(await t.container.identity.repo.getUser('.')).toBeFalsy();
    });

    it('still takes ids with dots in them (control)', async () => {
      for (const id of ['a.b', '...', '.hidden', 'ada@school.org']) {
        expect((await t.app.inject({ method: 'POST', url: '/v1/admin/users', headers: bearer(admin), payload: { id } })).statusCode).toBe(201);
      }
    });
  });

  describe('a progress event body that fits neither shape', () => {
    // The body is one event or {events: [...]}; a failure was one "body: Invalid input".
    it.each([
      ['a wrong type', '{"itemId":"x","correct":"yes"}', [{ path: 'body.correct', message: 'Invalid input: expected boolean, received string' }]],
      ['a duplicate key (the last one counts, and is named)', `{"itemId":"${ITEM}","correct":true,"correct":"x"}`, [{ path: 'body.correct', message: 'Invalid input: expected boolean, received string' }]],
      ['a number for a date (1e309)', `{"itemId":"${ITEM}","correct":true,"at":1e309}`, [{ path: 'body.at', message: 'Invalid input: expected string, received Infinity' }]],
      ['a batch with an incomplete event', '{"events":[{"itemId":"x"}]}', [{ path: 'body.events.0.correct', message: 'Invalid input: expected boolean, received undefined' }]],
      ['an array', '[]', [{ path: 'body', message: 'Invalid input: expected object, received array' }]],
    ])('%s: 422 naming the field, recording nothing', async (_name, payload, errors) => {
      const before = await eventsOf(learner);
      const r = await postEvent({}, payload);
      expectProblem(r, 422, 'validation_failed');
      expect(r.json().errors).toEqual(errors);
      expect(r.json().detail).toContain(errors[0]!.path);
      expect(await eventsOf(learner)).toBe(before);
    });
  });

  describe('bodies that are not UTF-8', () => {
    // Fastify decoded with replacement: Windows-1252 "café" was graded and stored as "caf\uFFFD".
    const latin1 = (before: string, after: string) => Buffer.concat([Buffer.from(before), Buffer.from([0xe9]), Buffer.from(after)]);
    const evaluations = async () => (await t.store.db.selectFrom('evaluations').select('id').execute()).length;
    const rubricIds = async () => (await t.store.db.selectFrom('rubrics').select('id').execute()).map((r) => r.id);

    it('refuses a JSON body with a Latin-1 byte with 400 invalid_json, grading and recording nothing', async () => {
      const before = await evaluations();
      const grade = await t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: { ...bearer(learner), 'content-type': 'application/json' }, payload: latin1('{"question":"What is evaporation?","referenceAnswer":"water turns to vapour","answer":"caf', ' water turns to vapour"}') });
      expectProblem(grade, 400, 'invalid_json');
      expect(grade.json().detail).toContain('not UTF-8');
      expect(await evaluations()).toBe(before);
      const events = await eventsOf(learner);
      expectProblem(await postEvent({}, latin1(`{"itemId":"${ITEM}","correct":true,"eventId":"caf`, '"}')), 400, 'invalid_json');
      expect(await eventsOf(learner)).toBe(events);
      expectProblem(await t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: { ...bearer(learner), 'content-type': 'application/json' }, payload: latin1('{"goal":"', '"}') }), 400, 'invalid_json');
    });

    it('still takes UTF-8 with a byte-order mark, and an empty learning-path body (control)', async () => {
      const r = await postEvent({}, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ itemId: ITEM, correct: true }))]));
      expect(r.statusCode).toBe(202);
      expect((await t.app.inject({ method: 'POST', url: '/v1/learning-paths', headers: { ...bearer(learner), 'content-type': 'application/json' }, payload: '' })).statusCode).toBe(200);
    });

    const rubricYaml = (id: string, title: string) => `id: ${id}\nversion: 1\ntitle: "${title}"\nquestion: "Why?"\ncriteria:\n  - id: c1\n    name: n\n    description: d\n    levels:\n      - { id: l0, points: 0, descriptor: "no" }\n      - { id: l1, points: 1, descriptor: "yes" }\nreferenceAnswers: ["because"]\n`;
    const importYaml = (payload: string | Buffer) => t.app.inject({ method: 'POST', url: '/v1/grading/rubrics', headers: { ...bearer(admin), 'content-type': 'application/yaml' }, payload });

    it.each([
      ['a NUL written as the YAML escape \\0', 'hx-yaml-nul', 'a\\0b', 'rubric.title: contains U+0000'],
      ['a lone surrogate written as the YAML escape \\ud800', 'hx-yaml-lone', 'a\\ud800b', 'rubric.title: contains a lone UTF-16 surrogate'],
    ])('refuses a rubric whose YAML makes %s (the raw text passed the NUL guard), storing nothing', async (_name, id, title, problem) => {
      const r = await importYaml(rubricYaml(id, title));
      expectProblem(r, 422, 'validation_failed');
      expect(r.json().detail).toContain(problem);
      expect(await rubricIds()).not.toContain(id);
    });

    it('refuses a Latin-1 YAML rubric with 400, storing nothing; the same rubric in UTF-8 is published (control)', async () => {
      const yaml = rubricYaml('hx-yaml-latin1', 'caf_');
      const i = yaml.indexOf('caf_') + 3;
      expectProblem(await importYaml(Buffer.concat([Buffer.from(yaml.slice(0, i)), Buffer.from([0xe9]), Buffer.from(yaml.slice(i + 1))])), 400, 'bad_request');
      expect(await rubricIds()).not.toContain('hx-yaml-latin1');
      expect((await importYaml(yaml.replace('caf_', 'café'))).statusCode).toBe(201);
    });
  });

  it('a 403 from the docs static files is coded forbidden, not bad_request', async () => {
    // Over the socket: inject() resolves the dot segments before routing.
    const r = await exchange('GET /docs/static/%2e%2e/%2e%2e/%2e%2e/package.json HTTP/1.1\n');
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ status: 403, code: 'forbidden' });
  });
});
