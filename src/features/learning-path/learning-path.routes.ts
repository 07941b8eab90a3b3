import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ConflictError, ValidationError } from '../../platform/errors.js';
import { principalOf } from '../identity/auth.hook.js';
import { catalogSchema, itemKindSchema } from './catalog.schema.js';
import { CatalogError } from './catalog.js';
import { CatalogVersionConflict, type CatalogProvider } from './catalog-provider.js';
import type { ExperimentAnalysisService } from './experiment-analysis.service.js';
import type { LearningPathService } from './learning-path.service.js';
import { CATALOG_BODY, ExperimentReportSchema, ImportedCatalogSchema, LearningPathSchema, MasterySchema, RecordedEventsSchema } from './learning-path.openapi.js';
import { installStrictJson } from '../../platform/http/json-body.js';

const event = z.strictObject({
  eventId: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/).optional(),
  itemId: z.string().min(1).max(200),
  correct: z.boolean(),
  at: z.iso.datetime({ offset: true }).optional(),
});

export function learningPathRoutes(deps: { service: LearningPathService; catalogs: CatalogProvider; experiments: ExperimentAnalysisService }): FastifyPluginAsyncZod {
  return async (app) => {
    // "An empty body works" (CONTRACT.md) also when the client labels it JSON: an empty
    // application/json body is no body here (Fastify's parser refuses it outright).
    // Anything else is strict UTF-8 through Fastify's own JSON parser, poisoning checks included.
    installStrictJson(app, { emptyIsNull: true });
    app.post(
      '/v1/progress/events',
      {
        config: { auth: 'required' },
        schema: {
          tags: ['learning'],
          summary: 'Record attempts (one, or a batch of up to 500); idempotent by eventId',
          body: z.union([z.strictObject({ events: z.array(event).max(500) }), event]),
          docs: { responses: { 202: { description: 'Recorded (duplicates by eventId are counted, not stored again)', content: { 'application/json': RecordedEventsSchema } } } },
        },
      },
      async (request, reply) => {
        const events = 'events' in request.body ? request.body.events : [request.body];
        return reply.status(202).send(await deps.service.recordEvents(principalOf(request), events));
      },
    );

    app.get('/v1/learners/me/mastery', { config: { auth: 'required' }, schema: { tags: ['learning'], summary: 'Per-skill mastery estimates from knowledge tracing', docs: { responses: { 200: { description: 'Mastery per skill of the active catalog', content: { 'application/json': MasterySchema } } } } } }, async (request) =>
      deps.service.mastery(principalOf(request)),
    );

    app.post(
      '/v1/learning-paths',
      {
        config: { auth: 'required' },
        schema: {
          tags: ['learning'],
          summary: 'Next items for the caller, with rationale; premium users get an LLM-personalised order',
          // No body at all (Fastify hands over null) is the same as `{}` (CONTRACT.md).
          body: z.preprocess((v) => v ?? {}, z.strictObject({ count: z.int().min(1).max(20).default(5), goal: z.string().max(200).optional().meta({ description: 'A skill id of the catalog (GET /v1/catalog lists them) to favour; any other is refused with 422' }), preferredKinds: z.array(itemKindSchema).max(3).optional() })),
          docs: { bodyOptional: true, limited: true, responses: { 200: { description: 'The next items, with rationale', content: { 'application/json': LearningPathSchema } } } },
        },
      },
      async (request, reply) => {
        const r = await deps.service.path(principalOf(request), request.body);
        reply.headers(r.headers);
        return {
          items: r.value.items,
          rationale: r.value.rationale,
          source: r.source,
          usage: r.usage,
          catalogVersion: r.catalogVersion,
          experiment: r.flagVariant ? { key: 'learning_path', variant: r.flagVariant } : null,
          ...(r.fallbackReason ? { fallbackReason: r.fallbackReason } : {}),
          ...(r.notices.length ? { notices: r.notices } : {}),
        };
      },
    );

    app.get('/v1/catalog', { config: { auth: 'required' }, schema: { tags: ['learning'], summary: 'The active catalog', docs: { responses: { 200: { description: 'The active catalog', content: { 'application/json': catalogSchema } } } } } }, async () => (await deps.catalogs.get()).catalog);

    app.put(
      '/v1/admin/catalog',
      {
        config: { auth: 'required', permission: 'catalog:manage' },
        schema: {
          tags: ['learning'],
          summary: 'Import a catalog version (validated: references, prerequisite cycles)',
          // Validated by the catalog provider, not by Fastify, so it is documented, not declared.
          docs: { body: CATALOG_BODY, responses: { 200: { description: 'Imported (or the same content was already there)', content: { 'application/json': ImportedCatalogSchema } } }, errors: { 409: 'conflict: that version exists with other content' } },
        },
      },
      async (request) => {
        try {
          const c = await deps.catalogs.import(request.body);
          return { version: c.version, skills: c.skills.length, items: c.items.length };
        } catch (err) {
          if (err instanceof CatalogError) throw new ValidationError(`Invalid catalog: ${err.problems.join('; ')}`.slice(0, 2000), err.problems.map((m) => ({ path: m.split(':')[0] ?? '', message: m })));
          if (err instanceof CatalogVersionConflict) throw new ConflictError(err.message);
          throw err;
        }
      },
    );

    app.get(
      '/v1/admin/experiments/:key/analysis',
      { config: { auth: 'required', permission: 'experiments:manage', allowSession: true }, schema: { tags: ['learning'], params: z.strictObject({ key: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/) }), summary: 'An experiment: learners per variant, outcome difference with its interval, cost per learner', querystring: z.strictObject({ days: z.coerce.number().int().min(1).max(365).default(30) }), docs: { responses: { 200: { description: 'The report', content: { 'application/json': ExperimentReportSchema } } } } } },
      async (request) => deps.experiments.report(request.params.key, request.query.days),
    );
  };
}
