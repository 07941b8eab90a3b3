import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildApp } from '../../src/app.js';
import { createContainer, type Container } from '../../src/container.js';
import type { Clock } from '../../src/platform/clock.js';
import { parseConfig } from '../../src/platform/config.js';
import type { Store } from '../../src/platform/db/database.js';
import { createLogger } from '../../src/platform/logger.js';
import { parsePolicy } from '../../src/platform/policy.js';
import type { PolicyFile } from '../../src/platform/policy.schema.js';
import { signDevToken } from '../../src/features/identity/jwt-verifier.js';
import { openTestStore, type TestStore } from './databases.js';

export const TEST_JWT_SECRET = 'test-jwt-secret-0123456789abcdef0123456789abcdef';
export const TEST_WEBHOOK_SECRET = 'whsec_test_0123456789abcdef';

export class ManualClock implements Clock {
  constructor(public ms = Date.parse('2026-11-27T12:00:00Z')) {}
  now() {
    return this.ms;
  }
  advance(ms: number) {
    this.ms += ms;
  }
}

// Collects every log line the app writes, so tests can search them for secrets.
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  }
  text() {
    return this.lines.join('\n');
  }
}

export interface TestApp {
  app: FastifyInstance;
  container: Container;
  store: Store;
  logs: LogCapture;
  clock: ManualClock;
  premium(id?: string, roles?: ('learner' | 'instructor' | 'admin')[]): Promise<string>;
  free(id?: string, roles?: ('learner' | 'instructor' | 'admin')[]): Promise<string>;
  jwt(sub: string, ttlSec?: number): Promise<string>;
  close(): Promise<void>;
}

let seq = 0;

export async function createTestApp(opts: {
  store?: 'sqlite' | 'postgres' | TestStore;
  env?: Record<string, string>;
  policy?: PolicyFile;
  redis?: Redis;
  clock?: ManualClock;
  extend?: (c: Container) => void | Promise<void>;
} = {}): Promise<TestApp> {
  const ts = typeof opts.store === 'object' ? opts.store : await openTestStore(opts.store ?? 'sqlite');
  const ownsStore = typeof opts.store !== 'object';
  const config = parseConfig({
    DATABASE_URL: ts.url,
    TUTORGATE_JWT_SECRET: TEST_JWT_SECRET,
    TUTORGATE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    LOG_LEVEL: 'info',
    // Most suites send many bad credentials from one address on purpose; the gate has its own test.
    TUTORGATE_AUTH_FAILURES_PER_MINUTE: '100000',
    ...opts.env,
  });
  const logs = new LogCapture();
  const logger = createLogger(config.LOG_LEVEL, logs);
  const clock = opts.clock ?? new ManualClock();
  const policy = parsePolicy(opts.policy, 'test policy');
  const container = await createContainer({ config, policy, store: ts.store, logger, clock, ...(opts.redis ? { redis: opts.redis } : {}) });
  await opts.extend?.(container);
  const app = await buildApp(container);
  await app.ready();
  // Over a socket, a client's next request reaches the service after the work its last
  // answer left behind (settling usage, run right after the answer is written). inject()
  // hands the answer back before that work has run, so it waits for it here.
  const inject = app.inject.bind(app) as (opts: unknown) => Promise<unknown>;
  (app as unknown as { inject: (opts?: unknown) => unknown }).inject = (opts?: unknown) => {
    if (opts === undefined) return inject(opts);
    return inject(opts).then(async (res) => {
      await container.deferred.drain();
      return res;
    });
  };
  const make = async (tier: 'free' | 'premium', id: string | undefined, roles: ('learner' | 'instructor' | 'admin')[] = ['learner']) => {
    const userId = id ?? `${tier}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
    await container.identity.service.createUser({ id: userId, tier, roles });
    return (await container.identity.service.createApiKey(userId)).key;
  };
  return {
    app,
    container,
    store: ts.store,
    logs,
    clock,
    premium: (id, roles) => make('premium', id, roles),
    free: (id, roles) => make('free', id, roles),
    jwt: (sub, ttl = 3600) => signDevToken(TEST_JWT_SECRET, sub, ttl),
    async close() {
      await app.close();
      await container.close();
      if (ownsStore) await ts.cleanup();
    },
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
