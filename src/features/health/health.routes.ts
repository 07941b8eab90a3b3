import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { named, ProblemSchema } from '../../platform/http/openapi.js';

export interface ReadinessCheck {
  name: string;
  check(): Promise<{ ok: boolean; detail?: Record<string, unknown> }>;
  // a failing optional check is reported but does not make the instance unready
  optional?: boolean;
}

const TIMEOUT_MS = 2000;

// Documentation only (see platform/http/openapi.ts).
const readiness = (status: 'ready' | 'unready') =>
  z.strictObject({ status: z.literal(status), checks: z.record(z.string(), z.looseObject({ ok: z.boolean() })).meta({ description: 'Each check by name, with its details' }) });

async function run(c: ReadinessCheck): Promise<{ ok: boolean; detail?: Record<string, unknown> }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      c.check(),
      new Promise<{ ok: boolean }>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false }), TIMEOUT_MS);
      }),
    ]);
  } catch {
    return { ok: false };
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(checks: ReadinessCheck[], metricsText: () => Promise<string>, metricsContentType: string): FastifyPluginAsync {
  return async (app) => {
    app.get('/healthz', { schema: { tags: ['operations'], summary: 'Liveness', docs: { responses: { 200: { description: 'The process is up', content: { 'application/json': z.strictObject({ status: z.literal('ok') }) } } } } } }, async () => ({ status: 'ok' }));
    app.get(
      '/readyz',
      {
        schema: {
          tags: ['operations'],
          summary: 'Readiness: store, Redis and upstream key',
          docs: {
            responses: {
              200: { description: 'Ready: every required check passed', content: { 'application/json': readiness('ready') } },
              503: {
                description: 'Not ready: a required check failed or timed out (application/json); or this instance is shutting down (application/problem+json, code shutting_down, with Retry-After)',
                content: { 'application/json': readiness('unready'), 'application/problem+json': named('Problem', ProblemSchema) },
                headers: { 'Retry-After': 'With shutting_down: seconds to wait before retrying (another instance takes the retry)' },
              },
            },
          },
        },
      },
      async (_request, reply) => {
        const results = await Promise.all(checks.map(async (c) => ({ c, r: await run(c) })));
        const ready = results.every(({ c, r }) => r.ok || c.optional);
        return reply.status(ready ? 200 : 503).send({
          status: ready ? 'ready' : 'unready',
          checks: Object.fromEntries(results.map(({ c, r }) => [c.name, { ok: r.ok, ...(r.detail ?? {}) }])),
        });
      },
    );
    app.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics', hide: false, docs: { responses: { 200: { description: 'Prometheus text exposition format', content: { [metricsContentType]: z.string() } } } } } }, async (_request, reply) => {
      return reply.type(metricsContentType).send(await metricsText());
    });
  };
}
