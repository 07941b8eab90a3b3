import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequestError, ForbiddenError, PremiumRequiredError, RateLimitedError, UnauthorizedError } from '../../platform/errors.js';
import type { Feature } from '../../platform/policy.schema.js';
import { hasPermission, type Permission } from './access.js';
import { AuthenticationFailed, type AuthFailure, type Authenticator } from './authenticator.js';
import type { Principal } from './identity.types.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    // Access is declared per route, never checked by hand in handlers.
    auth?: 'required' | 'none';
    permission?: Permission;
    feature?: Feature; // entitlement: the caller's tier must include it
    allowSession?: boolean; // the dashboard's cookie session is accepted here (reads only)
    // The cookie session may also change state here, but only from our own origin and
    // with the session's CSRF token (see checkSessionWrite). Takes precedence over allowSession.
    allowSessionWrite?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

// A live cookie session: who it names, and whether a presented CSRF token is the one
// bound to it (the hook never sees the session key).
export interface SessionInfo {
  userId: string;
  csrfMatches(presented: string | undefined): boolean;
}

export interface AuthHookDeps {
  authenticator: Pick<Authenticator, 'authenticate' | 'principalFor'>;
  sessionUser?: (request: FastifyRequest) => Promise<SessionInfo | undefined>;
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
    const session = cfg.allowSessionWrite === true ? 'write' : cfg.allowSession === true ? 'read' : 'none';
    request.principal = await resolve(request, deps, session);
    const p = request.principal;
    if (cfg.permission && !hasPermission(p.roles, cfg.permission)) throw new ForbiddenError(`This needs the "${cfg.permission}" permission.`);
    if (cfg.feature && !p.entitlements.includes(cfg.feature)) throw new PremiumRequiredError(cfg.feature);
  });
}

// Failures that tried no credential: none sent (a signed-out dashboard's first call, an
// expired cookie, an app before sign-in) or not a bearer token at all. They cannot guess a
// key, and counting them let one misconfigured client, or a class's tablets before sign-in,
// lock every learner behind a school's shared address out of the API for a minute.
const NOT_A_GUESS: ReadonlySet<AuthFailure> = new Set(['missing', 'malformed']);

// Node keeps the first of several Authorization headers and drops the rest, while a proxy
// or gateway in front may read the last: two layers would then act for two principals on
// one request. Which credential the caller meant is unknowable, so neither is tried.
function countAuthorizationHeaders(request: FastifyRequest): number {
  const raw = request.raw.rawHeaders;
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'authorization') n++;
  return n;
}

async function resolve(request: FastifyRequest, deps: AuthHookDeps, session: 'none' | 'read' | 'write'): Promise<Principal> {
  if (countAuthorizationHeaders(request) > 1) throw new BadRequestError('Send one Authorization header; this request has several.', 'ambiguous_credentials');
  const header = request.headers.authorization;
  try {
    if (!header && session !== 'none' && deps.sessionUser) {
      const s = await deps.sessionUser(request);
      if (s) {
        if (session === 'write') checkSessionWrite(request, s);
        return await deps.authenticator.principalFor(s.userId, 'session');
      }
    }
    return await deps.authenticator.authenticate(header);
  } catch (err) {
    if (!(err instanceof AuthenticationFailed)) throw err;
    request.log.info({ reason: err.reason }, 'authentication failed');
    if (!NOT_A_GUESS.has(err.reason)) {
      const gate = await deps.failureGate?.recordFailure(request.ip);
      if (gate && !gate.allowed) throw new RateLimitedError('authFailuresPerMinute', gate.retryAfterSec);
    }
    throw new UnauthorizedError();
  }
}

// A browser attaches the session cookie by itself; SameSite=Strict keeps it off
// requests other sites start, but that alone is one browser feature between an
// attacker's page and a flag flip, so a cookie write must also prove two things:
//
// 1. It came from our own origin. Browsers set Sec-Fetch-Site and page script cannot
//    forge it, so when present it decides ("same-site" is refused too: a sibling
//    subdomain is not the dashboard). Older browsers lack it but send Origin on every
//    non-GET fetch, whose host must then be ours (request.host: the Host header, or
//    X-Forwarded-Host from a trusted proxy only). With neither header there is no proof.
// 2. It carries the session's CSRF token in x-csrf-token. The token reaches only our
//    page's script (in the sign-in answer; no CORS is enabled, so no other origin can
//    read it) and is an HMAC of the cookie, so it cannot be guessed or reused for
//    another session. A custom header also forces a CORS preflight, which we never grant.
//
// Failing either is a 403, not a 401: the caller is signed in, the request is not trusted.
// Bearer calls never get here: no browser adds an Authorization header on its own.
function checkSessionWrite(request: FastifyRequest, s: SessionInfo): void {
  if (!fromOwnOrigin(request)) throw new ForbiddenError('Changes through the dashboard session must come from the dashboard itself.');
  const token = request.headers['x-csrf-token'];
  if (!s.csrfMatches(typeof token === 'string' ? token : undefined)) throw new ForbiddenError('Missing or wrong CSRF token; reload the dashboard and try again.');
}

function fromOwnOrigin(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin';
  const origin = request.headers.origin;
  if (!origin || !request.host) return false;
  try {
    const o = new URL(origin);
    // Parsed the same way on both sides, so "host:80" and "host" compare equal over http.
    return (o.protocol === 'http:' || o.protocol === 'https:') && o.host === new URL(`${o.protocol}//${request.host}`).host;
  } catch {
    return false; // "null" (sandboxed frames, file:) or garbage
  }
}
