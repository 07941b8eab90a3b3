import type { FastifyPluginAsync } from 'fastify';

export interface ReadinessCheck {
  name: string;
  check(): Promise<{ ok: boolean; detail?: Record<string, unknown> }>;
  // a failing optional check is reported but does not make the instance unready
  optional?: boolean;
}

const TIMEOUT_MS = 2000;

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
    app.get('/healthz', { schema: { tags: ['operations'], summary: 'Liveness' } }, async () => ({ status: 'ok' }));
    app.get('/readyz', { schema: { tags: ['operations'], summary: 'Readiness: store, Redis and upstream key' } }, async (_request, reply) => {
      const results = await Promise.all(checks.map(async (c) => ({ c, r: await run(c) })));
      const ready = results.every(({ c, r }) => r.ok || c.optional);
      return reply.status(ready ? 200 : 503).send({
        status: ready ? 'ready' : 'unready',
        checks: Object.fromEntries(results.map(({ c, r }) => [c.name, { ok: r.ok, ...(r.detail ?? {}) }])),
      });
    });
    app.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics', hide: false } }, async (_request, reply) => {
      return reply.type(metricsContentType).send(await metricsText());
    });
  };
}
