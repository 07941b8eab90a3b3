import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { decodeJwt, jwtVerify, SignJWT } from 'jose';
import type { Container } from '../../container.js';
import type { SessionInfo } from '../identity/auth.hook.js';
import type { Clock } from '../../platform/clock.js';
import { AdminSessionRepository } from './admin-session.repository.js';
import { parseCookieHeader } from './cookie-header.js';

export const SESSION_COOKIE = 'tg_session';
export const SESSION_TTL_SEC = 8 * 3600;
const SESSION_TYP = 'admin-session';
const KEY_LABEL = 'tutorgate-admin-session';
const MAX_TOKEN_CHARS = 4096;
const CSRF_KEY_LABEL = 'tutorgate-admin-csrf';
export const CSRF_HEADER = 'x-csrf-token';

// The dashboard's cookie session: a short HS256 JWT whose only claims are the admin's
// user id, typ, the times and its id (jti). It names who signed in, not what they may do;
// the auth hook re-reads the user's roles on every request, so demoting or disabling an
// admin takes effect at once. Its id names a row in `admin_sessions`, which says whether
// it still stands: signing out, or revoking the API key that signed in, ends it at once on
// every instance (a stolen cookie dies with the sign-out), and a session signed in with a
// JWT ends when that JWT would have.
//
// The key is an HMAC of the API JWT secret with a fixed label, never the secret itself
// (with a JWKS, of the random secret shared in `shared_secrets`, adminSessionsFor below):
// a session cookie is then not a valid API bearer token, and an API JWT placed in the
// cookie is not a session.
export class AdminSessions {
  // CSRF tokens get their own key, derived from the session key, so a token the page
  // holds in script memory is never an HMAC made with the key that signs sessions.
  private readonly csrfKey: Buffer;

  constructor(
    private readonly key: Uint8Array,
    private readonly clock: Clock,
    private readonly store: AdminSessionRepository,
  ) {
    this.csrfKey = createHmac('sha256', key).update(CSRF_KEY_LABEL).digest();
  }

  /**
   * `keyId`: the API key that signed in, so revoking it ends the session; `notAfterMs`: when
   * the credential that signed in expires (a JWT's exp), so the session cannot outlive it.
   */
  async issue(userId: string, from: { keyId?: string | undefined; notAfterMs?: number | undefined } = {}): Promise<{ token: string; expiresAt: number }> {
    const now = this.clock.now();
    const iat = Math.floor(now / 1000);
    const exp = Math.min(iat + SESSION_TTL_SEC, from.notAfterMs === undefined ? Infinity : Math.floor(from.notAfterMs / 1000));
    const jti = randomBytes(16).toString('base64url'); // each sign-in, and so its CSRF token, is unique
    await this.store.start({ id: jti, userId, keyId: from.keyId ?? null, createdAt: now, expiresAt: exp * 1000 });
    const token = await new SignJWT({ typ: SESSION_TYP })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.key);
    return { token, expiresAt: exp * 1000 };
  }

  // The user id, or undefined for anything that is not a live session of ours.
  async verify(token: string): Promise<string | undefined> {
    const claims = await this.claims(token);
    if (!claims) return undefined;
    return (await this.store.isLive(claims.jti, claims.sub, this.clock.now())) ? claims.sub : undefined;
  }

  /** Signs the session out everywhere; a token that is not a session of ours is ignored. */
  async end(token: string): Promise<void> {
    const claims = await this.claims(token);
    if (claims) await this.store.end(claims.jti, this.clock.now());
  }

  private async claims(token: string): Promise<{ sub: string; jti: string } | undefined> {
    if (!token || token.length > MAX_TOKEN_CHARS) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        requiredClaims: ['exp', 'iat', 'sub', 'jti'],
        currentDate: new Date(this.clock.now()),
        clockTolerance: 5,
      });
      if (payload.typ !== SESSION_TYP || typeof payload.sub !== 'string' || !payload.sub || typeof payload.jti !== 'string') return undefined;
      // Only sessions we could have issued: a longer life means a forged or foreign token.
      if (payload.exp! - payload.iat! > SESSION_TTL_SEC) return undefined;
      return { sub: payload.sub, jti: payload.jti };
    } catch {
      return undefined;
    }
  }

  // The double-submit token for one session: an HMAC of the cookie value. Only the
  // server can make it, and only this origin's script can read it (from the sign-in
  // answer), so a request that carries it was written by our page, not just sent
  // with our cookie. It lives as long as the session and dies with it.
  csrfTokenFor(sessionToken: string): string {
    return createHmac('sha256', this.csrfKey).update(sessionToken).digest('base64url');
  }

  csrfMatches(sessionToken: string, presented: string | undefined): boolean {
    if (typeof presented !== 'string' || presented.length > 128) return false;
    const want = Buffer.from(this.csrfTokenFor(sessionToken));
    const got = Buffer.from(presented);
    return got.length === want.length && timingSafeEqual(got, want);
  }
}

export function deriveSessionKey(secret: string): Uint8Array {
  return new Uint8Array(createHmac('sha256', secret).update(KEY_LABEL).digest());
}

type SessionDeps = Pick<Container, 'jwtSecret' | 'config' | 'clock' | 'store' | 'sessionSecret'>;
const byContainer = new WeakMap<SessionDeps, AdminSessions>();

// One AdminSessions per container, shared by the routes that issue the cookie and the
// auth hook that reads it (they must agree on the key, including the random fallback).
export function adminSessionsFor(c: SessionDeps): AdminSessions {
  let s = byContainer.get(c);
  if (!s) {
    // With a JWKS there is no JWT secret: the container's sessionSecret, one random value in
    // the store shared by every instance, so a session holds on all of them and across
    // restarts. A per-process key is left only for deps that carry neither.
    const secret = c.jwtSecret ?? c.config.TUTORGATE_JWT_SECRET ?? c.sessionSecret;
    const key = secret ? deriveSessionKey(secret) : new Uint8Array(randomBytes(32));
    s = new AdminSessions(key, c.clock, new AdminSessionRepository(c.store.db));
    byContainer.set(c, s);
  }
  return s;
}

/** When a verified API JWT expires, in ms (it has been verified: only its claims are read here). */
export function jwtExpiryMs(token: string): number | undefined {
  try {
    const exp = decodeJwt(token).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export function sessionTokenOf(request: FastifyRequest): string | undefined {
  return parseCookieHeader(request.headers.cookie).get(SESSION_COOKIE) || undefined;
}

// For installAuth's `sessionUser`. The hook consults it only on routes that set
// `allowSession` or `allowSessionWrite`, and only when no Authorization header is sent;
// on the latter it also asks whether the request's CSRF token belongs to this session.
export function sessionUserResolver(c: SessionDeps): (request: FastifyRequest) => Promise<SessionInfo | undefined> {
  const sessions = adminSessionsFor(c);
  return async (request) => {
    const token = sessionTokenOf(request);
    const userId = token ? await sessions.verify(token) : undefined;
    if (!token || !userId) return undefined;
    return { userId, csrfMatches: (presented) => sessions.csrfMatches(token, presented) };
  };
}
