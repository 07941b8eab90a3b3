import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ForbiddenError, PremiumRequiredError, RateLimitedError, UnauthorizedError } from '../../platform/errors.js';
import type { Feature } from '../../platform/policy.schema.js';
import { hasPermission, type Permission } from './access.js';
import { AuthenticationFailed, type Authenticator } from './authenticator.js';
import type { Principal } from './identity.types.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    // Access is declared per route, never checked by hand in handlers.
    auth?: 'required' | 'none';
    permission?: Permission;
    feature?: Feature; // entitlement: the caller's tier must include it
    allowSession?: boolean; // the dashboard's cookie session is accepted here
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

export interface AuthHookDeps {
  authenticator: Pick<Authenticator, 'authenticate' | 'principalFor'>;
  sessionUser?: (request: FastifyRequest) => Promise<string | undefined>;
  // Pre-auth limit on credential failures per client IP (request.ip honours only the
  // configured trusted proxies' X-Forwarded-For), so keys cannot be guessed at speed.
  failureGate?: {
    check(ip: string): Promise<{ allowed: boolean; retryAfterSec: number }>;
    recordFailure(ip: string): Promise<{ allowed: boolean; retryAfterSec: number }>;
  };
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new UnauthorizedError();
  return request.principal;
}

export function installAuth(app: FastifyInstance, deps: AuthHookDeps): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request) => {
    const cfg = request.routeOptions.config;
    if (cfg.auth !== 'required') return;
    if (deps.failureGate) {
      const gate = await deps.failureGate.check(request.ip);
      if (!gate.allowed) throw new RateLimitedError('authFailuresPerMinute', gate.retryAfterSec);
    }
    request.principal = await resolve(request, deps, cfg.allowSession === true);
    const p = request.principal;
    if (cfg.permission && !hasPermission(p.roles, cfg.permission)) throw new ForbiddenError(`This needs the "${cfg.permission}" permission.`);
    if (cfg.feature && !p.entitlements.includes(cfg.feature)) throw new PremiumRequiredError(cfg.feature);
  });
}

async function resolve(request: FastifyRequest, deps: AuthHookDeps, allowSession: boolean): Promise<Principal> {
  const header = request.headers.authorization;
  try {
    if (!header && allowSession && deps.sessionUser) {
      const userId = await deps.sessionUser(request);
      if (userId) return await deps.authenticator.principalFor(userId, 'session');
    }
    return await deps.authenticator.authenticate(header);
  } catch (err) {
    if (!(err instanceof AuthenticationFailed)) throw err;
    request.log.info({ reason: err.reason }, 'authentication failed');
    const gate = await deps.failureGate?.recordFailure(request.ip);
    if (gate && !gate.allowed) throw new RateLimitedError('authFailuresPerMinute', gate.retryAfterSec);
    throw new UnauthorizedError();
  }
}
