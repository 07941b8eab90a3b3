import { randomUUID } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Container } from './container.js';
import { installAuth } from './features/identity/auth.hook.js';
import { SESSION_COOKIE, sessionUserResolver } from './features/dashboard/admin-session.js';
import { dashboardRoutes } from './features/dashboard/dashboard.routes.js';
import { billingWebhookRoutes } from './features/identity/billing-webhook.routes.js';
import { identityRoutes } from './features/identity/identity.routes.js';
import { healthRoutes } from './features/health/health.routes.js';
import { flagsRoutes } from './features/flags/flags.routes.js';
import { meExtras } from './features/premium/me-extras.js';
import { premiumAdminRoutes } from './features/premium/premium-admin.routes.js';
import { gradingRoutes } from './features/grading/grading.routes.js';
import { learningPathRoutes } from './features/learning-path/learning-path.routes.js';
import { usageRoutes } from './features/usage/usage.routes.js';
import { privacyRoutes } from './features/privacy/privacy.routes.js';
import { answerFrameworkError, installErrorHandling, MAX_PARAM_LENGTH, sendProblem } from './platform/http/error-handler.js';
import { answerClientError } from './platform/http/client-error.js';
import { installNulGuard } from './platform/http/nul-guard.js';
import { installContentEncodingGuard } from './platform/http/content-encoding-guard.js';
import { installSingleQueryValues } from './platform/http/single-query-values.js';
import { installStrictJson } from './platform/http/json-body.js';
import { openApiTransforms, securitySchemes } from './platform/http/openapi.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

declare module 'fastify' {
  interface FastifyInstance {
    // Called on SIGTERM before close(): responses still in flight then tell the client
    // to close its keep-alive connection, so the drain ends when they do.
    startDraining(): void;
  }
}

export async function buildApp(c: Container): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: c.logger as FastifyBaseLogger,
    bodyLimit: c.config.TUTORGATE_BODY_LIMIT,
    trustProxy: c.config.TUTORGATE_TRUST_PROXY ?? false,
    // A caller's request id is kept only when it is a plain token (no log injection).
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // A request that arrives while the instance drains is refused by the hook below, as
    // problem+json; Fastify's own closing answer is plain JSON.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
  });

  installStrictJson(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandling(app);

  const openapi = { sessionCookie: SESSION_COOKIE, signatureHeader: 'Tutorgate-Signature' };
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'tutorgate',
        version: '0.1.0',
        description:
          'Premium grading and adaptive learning paths with a deterministic fallback. Errors are RFC 9457 application/problem+json with a stable `code`; a known path called with a method it does not take answers 405 with an Allow header, an unknown path 404.',
      },
      components: { securitySchemes: securitySchemes(openapi) },
      // Each operation states its own security (see openapi.ts); this is the default of the rest.
      security: [{ bearer: [] }],
    },
    // Documentation only: route `schema.docs` is read here and by nothing at request time.
    ...openApiTransforms(openapi),
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  let draining = false;
  app.decorate('startDraining', () => {
    draining = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (draining) {
      return sendProblem(reply, request, {
        status: 503,
        code: 'shutting_down',
        detail: 'This instance is shutting down; retry the request (another instance will take it).',
        headers: { 'retry-after': '1', connection: 'close' },
      });
    }
  });
  app.addHook('onSend', async (_request, reply) => {
    if (draining) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (request, reply) => {
    c.metrics.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  installAuth(app, { authenticator: c.identity.authenticator, sessionUser: sessionUserResolver(c), failureGate: c.authFailures });
  installNulGuard(app);
  installContentEncodingGuard(app);
  installSingleQueryValues(app);

  await app.register(healthRoutes(c.readiness, () => c.metrics.registry.metrics(), c.metrics.registry.contentType));
  await app.register(identityRoutes(c.identity.service, { remaining: meExtras(c) }));
  await app.register(usageRoutes({ analytics: c.usageAnalytics, budgets: c.budgets, policy: c.policy, clock: c.clock }));
  await app.register(privacyRoutes(c.privacy));
  await app.register(premiumAdminRoutes({ budgets: c.budgets, overrides: c.overrides, identity: c.identity.service, cache: c.cache, policy: c.policy, clock: c.clock }));
  await app.register(flagsRoutes(c.flags.service, c.flags.analytics));
  await app.register(gradingRoutes({ service: c.grading.service, calibration: c.grading.calibration }));
  await app.register(learningPathRoutes({ service: c.learning.service, catalogs: c.learning.catalogs, experiments: c.learning.experiments }));
  await app.register(dashboardRoutes(c));
  await app.register(billingWebhookRoutes({ db: c.store.db, clock: c.clock, secret: c.config.TUTORGATE_WEBHOOK_SECRET }));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  return app;
}
