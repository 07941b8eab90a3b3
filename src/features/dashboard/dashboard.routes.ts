import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Container } from '../../container.js';
import { ForbiddenError, RateLimitedError, UnauthorizedError } from '../../platform/errors.js';
import { principalOf } from '../identity/auth.hook.js';
import { hasPermission } from '../identity/access.js';
import { AuthenticationFailed } from '../identity/authenticator.js';
import { adminSessionsFor, jwtExpiryMs, SESSION_COOKIE, SESSION_TTL_SEC, sessionTokenOf } from './admin-session.js';
import { serializeSessionCookie } from './cookie-header.js';
import { DASHBOARD_HTML } from './dashboard-page.js';
import { DASHBOARD_SCRIPT } from './dashboard-script.js';
import { DASHBOARD_STYLES } from './dashboard-styles.js';
import { opsRoutes } from './ops.routes.js';

// Everything the page loads comes from this origin, and nothing inline runs, so an
// injected string cannot become script even if it reached the DOM as markup.
// Documentation only (see platform/http/openapi.ts).
const SESSION_DOCS = {
  sessionBody: z.strictObject({ userId: z.string(), expiresAt: z.iso.datetime(), csrfToken: z.string().meta({ description: 'Send as x-csrf-token with changes made through the cookie' }) }),
  signedInAs: z.strictObject({ userId: z.string(), via: z.enum(['api_key', 'jwt', 'session']), csrfToken: z.string().optional().meta({ description: 'When signed in with the cookie' }) }),
  crossSite: 'forbidden: the request came from another site (Sec-Fetch-Site)',
};

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

// The tab icon: the logo's blue square (dashboard-styles.ts). Linked from the page, so the
// browser asks for it rather than /favicon.ico.
const FAVICON_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="4" fill="#3b5bdb"/></svg>';
// Icons change with a release at most: a day in the browser's cache, not a request per page.
const ICON_CACHE = 'public, max-age=86400';

function sendAsset(reply: FastifyReply, type: string, body: string, cacheControl = 'no-cache'): FastifyReply {
  return reply
    .type(type)
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', cacheControl)
    .send(body);
}

// Sign-in and sign-out change state, so a request another site started must not do
// either. Browsers say where a request came from in Sec-Fetch-Site; without it (curl,
// tests) the JSON-only body still keeps plain HTML forms out.
function refuseCrossSite(request: FastifyRequest): void {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new ForbiddenError('Sign-in and sign-out are accepted only from the dashboard itself.');
}

// The admin dashboard at /admin: a static shell, its script and styles, and the cookie
// session they run on.
//
// CSRF: the cookie is SameSite=Strict, and only GET routes set `allowSession: true`
// (usage, ops, flag audit, this session check). The one write the cookie may make is
// PUT /v1/admin/flags/:key, through `allowSessionWrite`, which the auth hook honours
// only from this origin and with the session's CSRF token (handed out below, kept in
// the page's memory, sent as x-csrf-token). Every other state-changing route still
// needs an Authorization header, which a browser never adds on its own. Keep new write
// routes off `allowSession`; use `allowSessionWrite` only for what the page must change.
export function dashboardRoutes(c: Container): FastifyPluginAsyncZod {
  const sessions = adminSessionsFor(c);
  return async (app) => {
    app.get('/admin', { schema: { hide: true } }, async (_request, reply) => sendAsset(reply, 'text/html; charset=utf-8', DASHBOARD_HTML));
    app.get('/admin/app.js', { schema: { hide: true } }, async (_request, reply) => sendAsset(reply, 'text/javascript; charset=utf-8', DASHBOARD_SCRIPT));
    app.get('/admin/app.css', { schema: { hide: true } }, async (_request, reply) => sendAsset(reply, 'text/css; charset=utf-8', DASHBOARD_STYLES));
    app.get('/admin/favicon.svg', { schema: { hide: true } }, async (_request, reply) => sendAsset(reply, 'image/svg+xml', FAVICON_SVG, ICON_CACHE));
    // What a browser asks for on any page without an icon link (a JSON route, /metrics):
    // no content, cached, rather than a 404 problem in its console on every visit. Public
    // like the page shell: no auth, so no failed-credential count either.
    app.get('/favicon.ico', { schema: { hide: true } }, async (_request, reply) => reply.code(204).header('cache-control', ICON_CACHE).send());

    app.post(
      '/admin/session',
      {
        schema: {
          tags: ['dashboard'],
          summary: 'Exchange an admin API key or JWT for a dashboard session cookie',
          body: z.strictObject({ token: z.string().min(1).max(4096) }),
          docs: {
            responses: { 200: { description: `Signed in; the session is in the ${SESSION_COOKIE} cookie (HttpOnly, SameSite=Strict)`, content: { 'application/json': SESSION_DOCS.sessionBody }, headers: { 'Set-Cookie': `${SESSION_COOKIE}=…` } } },
            errors: {
              401: 'unauthorized: that API key or token is not valid',
              403: `${SESSION_DOCS.crossSite}, or the key lacks the "usage:read-any" permission`,
              429: 'rate_limited: too many failed credential checks from this address (limit authFailuresPerMinute); Retry-After says when to try again',
            },
          },
        },
      },
      async (request, reply) => {
        refuseCrossSite(request);
        // A credential check like any other: the same per-address gate on failures.
        const gate = await c.authFailures.check(request.ip);
        if (!gate.allowed) throw new RateLimitedError('authFailuresPerMinute', gate.retryAfterSec);
        let principal;
        try {
          principal = await c.identity.authenticator.authenticate(`Bearer ${request.body.token.trim()}`);
        } catch (err) {
          if (!(err instanceof AuthenticationFailed)) throw err;
          request.log.info({ reason: err.reason }, 'dashboard sign-in refused');
          const after = await c.authFailures.recordFailure(request.ip);
          if (!after.allowed) throw new RateLimitedError('authFailuresPerMinute', after.retryAfterSec);
          throw new UnauthorizedError('That API key or token is not valid.');
        }
        if (!hasPermission(principal.roles, 'usage:read-any')) throw new ForbiddenError('The dashboard is for administrators; this key lacks the "usage:read-any" permission.');
        const credential = request.body.token.trim();
        const session = await sessions.issue(principal.userId, { keyId: principal.keyId, notAfterMs: principal.via === 'jwt' ? jwtExpiryMs(credential) : undefined });
        request.log.info({ userId: principal.userId, via: principal.via }, 'dashboard sign-in');
        return reply
          .header('set-cookie', serializeSessionCookie(SESSION_COOKIE, session.token, { maxAgeSec: Math.max(1, Math.ceil((session.expiresAt - c.clock.now()) / 1000)), secure: request.protocol === 'https' }))
          .header('cache-control', 'no-store')
          .send({ userId: principal.userId, expiresAt: new Date(session.expiresAt).toISOString(), csrfToken: sessions.csrfTokenFor(session.token) });
      },
    );

    app.post(
      '/admin/logout',
      {
        schema: {
          tags: ['dashboard'],
          summary: 'End the dashboard session (on every instance) and clear its cookie',
          description: `Reads the ${SESSION_COOKIE} cookie if there is one; without it, only clears the cookie.`,
          docs: { responses: { 204: { description: 'Signed out (also when there was no session)', headers: { 'Set-Cookie': `${SESSION_COOKIE}=; Max-Age=0` } } }, errors: { 403: SESSION_DOCS.crossSite } },
        },
      },
      async (request, reply) => {
        refuseCrossSite(request);
        const token = sessionTokenOf(request);
        if (token) await sessions.end(token);
        return reply
          .header('set-cookie', serializeSessionCookie(SESSION_COOKIE, '', { maxAgeSec: 0, secure: request.protocol === 'https' }))
          .header('cache-control', 'no-store')
          .status(204)
          .send();
      },
    );

    app.get(
      '/admin/session',
      { config: { auth: 'required', permission: 'usage:read-any', allowSession: true }, schema: { tags: ['dashboard'], summary: 'Who the dashboard is signed in as', docs: { responses: { 200: { description: 'The signed-in admin', content: { 'application/json': SESSION_DOCS.signedInAs } } } } } },
      async (request, reply) => {
        const p = principalOf(request);
        // A reload loses the page's in-memory CSRF token while the cookie lives on, so the
        // session check hands it out again. Only our origin can read this answer (no CORS).
        const token = p.via === 'session' ? sessionTokenOf(request) : undefined;
        return reply.header('cache-control', 'no-store').send({ userId: p.userId, via: p.via, ...(token ? { csrfToken: sessions.csrfTokenFor(token) } : {}) });
      },
    );

    await app.register(opsRoutes({ cache: c.cache, flags: c.flags.service, flagAnalytics: c.flags.analytics, llm: c.llm, policy: c.policy, registry: c.metrics.registry }));
  };
}
