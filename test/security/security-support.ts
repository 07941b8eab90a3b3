import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { SIM_KEY } from '../helpers/simulated-app.js';
import { TEST_JWT_SECRET, TEST_WEBHOOK_SECRET, type TestApp } from '../helpers/test-app.js';

// A second, wrong upstream key: the simulator answers 401 to it.
export const BAD_UPSTREAM_KEY = 'sk-ant-.wrong-9876543210zyxwvuBADKEY';

// Everything the suite saw leave the service: bodies and headers of every response,
// and every API key the suite created. The secret scan searches the former for the latter.
export class Exposure {
  readonly responses: string[] = [];
  readonly apiKeys = new Set<string>();
  readonly apps: TestApp[] = [];

  track<T extends TestApp>(t: T): T {
    this.apps.push(t);
    const premium = t.premium.bind(t);
    const free = t.free.bind(t);
    t.premium = async (...a) => this.key(await premium(...a));
    t.free = async (...a) => this.key(await free(...a));
    return t;
  }

  key(k: string): string {
    this.apiKeys.add(k);
    return k;
  }

  record(r: LightMyRequestResponse): LightMyRequestResponse {
    this.responses.push(`${JSON.stringify(r.headers)}\n${r.body}`);
    return r;
  }

  async inject(app: FastifyInstance, opts: InjectOptions): Promise<LightMyRequestResponse> {
    return this.record(await app.inject(opts));
  }

  // The fixed secrets, plus every API key created; the upstream keys of both apps.
  secrets(): { name: string; value: string }[] {
    return [
      { name: 'SIM_KEY', value: SIM_KEY },
      { name: 'BAD_UPSTREAM_KEY', value: BAD_UPSTREAM_KEY },
      { name: 'TEST_JWT_SECRET', value: TEST_JWT_SECRET },
      { name: 'TEST_WEBHOOK_SECRET', value: TEST_WEBHOOK_SECRET },
      ...[...this.apiKeys].map((k, i) => ({ name: `api key #${i}`, value: k })),
    ];
  }
}

// An Anthropic key, as opposed to the fingerprint "sk-ant-…ABCD (sha256:…)" or the
// scrubber's "sk-ant-[redacted]", which carry no key material.
export const ANTHROPIC_KEY_SHAPE = /sk-ant-[A-Za-z0-9_-]{4,}/;

export function expectNoSecrets(haystack: string, secrets: { name: string; value: string }[], where: string): void {
  for (const s of secrets) {
    expect(haystack.includes(s.value), `${s.name} leaked in ${where}`).toBe(false);
  }
  expect(haystack.match(ANTHROPIC_KEY_SHAPE)?.[0], `an sk-ant- key leaked in ${where}`).toBeUndefined();
}

// Every log line is exactly one JSON object with no raw control characters.
export function expectWellFormedLogLines(lines: string[]): void {
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) {
    expect(/[\u0000-\u001f]/.test(line), `raw control character in log line: ${JSON.stringify(line.slice(0, 200))}`).toBe(false);
    let parsed: unknown;
    expect(() => (parsed = JSON.parse(line)), `log line is not JSON: ${line.slice(0, 200)}`).not.toThrow();
    expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)).toBe(true);
  }
}

export function expectProblem(r: LightMyRequestResponse, status: number, code?: string): void {
  expect(r.statusCode, r.body.slice(0, 500)).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = r.json() as { status: number; code: string; requestId: string; stack?: unknown };
  expect(body.status).toBe(status);
  expect(body.requestId).toBe(r.headers['x-request-id']);
  expect(body.stack).toBeUndefined();
  if (code) expect(body.code).toBe(code);
}

// A 4xx client error with a problem+json body (the exact code left open).
export function expectClientProblem(r: LightMyRequestResponse): void {
  expect(r.statusCode, r.body.slice(0, 500)).toBeGreaterThanOrEqual(400);
  expect(r.statusCode, r.body.slice(0, 500)).toBeLessThan(500);
  expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(() => r.json()).not.toThrow();
}
