import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from './platform/clock.js';
import type { Config } from './platform/config.js';
import type { Store } from './platform/db/database.js';
import { createMetrics, type HttpMetrics } from './platform/metrics.js';
import type { Policy } from './platform/policy.js';
import { Authenticator } from './features/identity/authenticator.js';
import { IdentityRepository } from './features/identity/identity.repository.js';
import { IdentityService } from './features/identity/identity.service.js';
import { createJwtVerifier } from './features/identity/jwt-verifier.js';
import type { ReadinessCheck } from './features/health/health.routes.js';

export interface ContainerInput {
  config: Config;
  policy: Policy;
  store: Store;
  logger: Logger;
  clock: Clock;
  jwtSecret?: string; // when TUTORGATE_JWT_SECRET is unset, main passes the generated one
  redis?: Redis;
}

// Everything the app needs, built once from config, policy and the edges. main.ts and
// the tests both build the app through this, so what is tested is what runs.
export interface Container extends ContainerInput {
  metrics: HttpMetrics;
  identity: { repo: IdentityRepository; service: IdentityService; authenticator: Authenticator };
  readiness: ReadinessCheck[];
  close(): Promise<void>;
}

export async function createContainer(input: ContainerInput): Promise<Container> {
  const { config, policy, store, clock } = input;
  const metrics = createMetrics();
  const repo = new IdentityRepository(store.db);
  const service = new IdentityService(repo, clock);
  const jwt = createJwtVerifier({
    ...(config.TUTORGATE_JWKS_URL ? { jwksUrl: config.TUTORGATE_JWKS_URL } : { secret: input.jwtSecret ?? config.TUTORGATE_JWT_SECRET }),
    ...(config.TUTORGATE_JWT_ISSUER ? { issuer: config.TUTORGATE_JWT_ISSUER } : {}),
    ...(config.TUTORGATE_JWT_AUDIENCE ? { audience: config.TUTORGATE_JWT_AUDIENCE } : {}),
  });
  const authenticator = new Authenticator(repo, jwt, policy, clock, (id) => service.ensureUser(id));
  const readiness: ReadinessCheck[] = [
    { name: 'store', check: async () => (await store.ping(), { ok: true, detail: { dialect: store.dialect } }) },
  ];
  if (input.redis) {
    const redis = input.redis;
    readiness.push({ name: 'redis', check: async () => ({ ok: (await redis.ping()) === 'PONG' }) });
  }
  return {
    ...input,
    metrics,
    identity: { repo, service, authenticator },
    readiness,
    async close() {},
  };
}
