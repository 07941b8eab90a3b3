import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BadRequestError, ValidationError } from '../../platform/errors.js';
import { principalOf } from '../identity/auth.hook.js';
import type { GradingCalibrationService } from './grading-calibration.service.js';
import type { GradingService } from './grading.service.js';
import { CalibrationResultSchema, CalibrationRunsSchema, EvaluationSchema, PublishedRubricsSchema, ReviewQueueSchema, RUBRIC_BODY, RubricDetailsSchema, RubricListSchema, STORED_EVALUATION } from './grading.openapi.js';
import { loadRubricsYaml, RubricIdSchema as rubricId, RubricImportError } from './rubric.schema.js';

// Lengths are in Unicode code points (as JSON Schema's maxLength): a CJK character or an emoji
// is one, not the two UTF-16 units or three or four UTF-8 bytes; the message says so, since a
// learner counts characters as they see them.
const text = (max: number) =>
  z.string().min(1).max(max, `Too long: at most ${max} characters, counted as Unicode code points (an emoji or a CJK character is one; an accent typed as a separate combining mark is one more)`);

export function gradingRoutes(deps: { service: GradingService; calibration: GradingCalibrationService }): FastifyPluginAsyncZod {
  return async (app) => {
    // YAML import of rubrics (instructors author them as files).
    // Decoded strictly: a file saved as Latin-1 had its accented letters stored as U+FFFD.
    app.addContentTypeParser(['application/yaml', 'text/yaml'], { parseAs: 'buffer' }, (_req, body, done) => {
      try {
        done(null, new TextDecoder('utf-8', { fatal: true }).decode(body as Buffer));
      } catch {
        done(new BadRequestError('The YAML body is not UTF-8; save the file as UTF-8.'), undefined);
      }
    });

    app.post(
      '/v1/grading/evaluations',
      {
        config: { auth: 'required', feature: 'grading' },
        schema: {
          tags: ['grading'],
          summary: 'Grade one free-form answer against a rubric (stored, by id, or the default rubric against a reference answer)',
          body: z.strictObject({
            rubricId: rubricId.optional(),
            rubric: z.record(z.string(), z.unknown()).optional(),
            question: text(4000).optional().meta({ description: "The question the answer replies to; a stored rubric's own question when left out" }),
            referenceAnswer: text(8000).optional(),
            answer: text(8000),
          }),
          docs: { limited: true, responses: { 200: { description: 'The grade', content: { 'application/json': EvaluationSchema } } }, errors: { 404: 'not_found: no rubric with that rubricId' } },
        },
      },
      async (request, reply) => {
        const { headers, json } = await deps.service.evaluate(principalOf(request), request.body as Parameters<GradingService['evaluate']>[1]);
        reply.headers(headers);
        // The stored JSON of the evaluation is the body Fastify would serialise from it.
        return reply.status(200).type('application/json; charset=utf-8').send(json);
      },
    );

    app.get('/v1/grading/evaluations/:id', { config: { auth: 'required' }, schema: { tags: ['grading'], params: z.strictObject({ id: z.string().max(100) }), docs: { responses: { 200: { description: 'The evaluation (with the reviewer\'s score and `override` once resolved)', content: { 'application/json': STORED_EVALUATION } } } } } }, async (request) =>
      deps.service.get(principalOf(request), request.params.id),
    );

    app.get('/v1/grading/rubrics', { config: { auth: 'required', permission: 'rubrics:read' }, schema: { tags: ['grading'], summary: 'Rubrics the caller may use (demo rubrics ship)', docs: { responses: { 200: { description: 'The latest version of each rubric', content: { 'application/json': RubricListSchema } } } } } }, async () => ({ rubrics: await deps.service.rubrics() }));

    app.get('/v1/grading/rubrics/:id', { config: { auth: 'required', permission: 'rubrics:read' }, schema: { tags: ['grading'], summary: 'The latest version of a rubric', params: z.strictObject({ id: rubricId }), docs: { responses: { 200: { description: 'The rubric (reference answers and anchors for rubrics:manage only)', content: { 'application/json': RubricDetailsSchema } } } } } }, async (request) => deps.service.rubricFor(principalOf(request), request.params.id));

    app.post(
      '/v1/grading/rubrics',
      {
        config: { auth: 'required', permission: 'rubrics:manage' },
        schema: {
          tags: ['grading'],
          summary: 'Publish a rubric or a new version (JSON, or YAML with content-type application/yaml)',
          // The handler parses the body itself (JSON or YAML), so it is documented, not declared.
          docs: {
            body: RUBRIC_BODY,
            responses: { 201: { description: 'Published', content: { 'application/json': PublishedRubricsSchema } } },
            errors: { 403: 'forbidden: the caller lacks the "rubrics:manage" permission, or another user owns the rubric', 409: 'conflict: that version (or a later one) is already published' },
          },
        },
      },
      async (request, reply) => {
        const p = principalOf(request);
        let inputs: unknown[];
        if (typeof request.body === 'string') {
          try {
            inputs = loadRubricsYaml(request.body);
          } catch (err) {
            if (err instanceof RubricImportError) throw new ValidationError(`Invalid rubric YAML: ${err.problems.join('; ')}`.slice(0, 2000), err.problems.map((m) => ({ path: m.split(':')[0] ?? '', message: m })));
            throw err;
          }
        } else {
          inputs = [request.body];
        }
        const published = [];
        for (const input of inputs) published.push(await deps.service.publishRubric(p, input as never));
        return reply.status(201).send({ rubrics: published.map((r) => ({ id: r.id, version: r.version })) });
      },
    );

    app.get('/v1/grading/reviews', { config: { auth: 'required', permission: 'reviews:manage' }, schema: { tags: ['grading'], summary: 'Grades flagged for review', querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(50) }), docs: { responses: { 200: { description: 'The review queue', content: { 'application/json': ReviewQueueSchema } } } } } }, async (request) => ({
      reviews: await deps.service.reviewQueue(request.query.limit),
    }));

    app.post(
      '/v1/grading/reviews/:id/resolve',
      {
        config: { auth: 'required', permission: 'reviews:manage' },
        schema: { tags: ['grading'], summary: 'Resolve a flagged grade with an override (feeds calibration)', params: z.strictObject({ id: z.string().max(100) }), body: z.strictObject({ levels: z.record(z.string().max(100), z.string().max(100)), note: z.string().max(2000).optional() }), docs: { responses: { 200: { description: 'The evaluation, resolved', content: { 'application/json': STORED_EVALUATION } } }, errors: { 409: 'conflict: this evaluation is not awaiting review' } } },
      },
      async (request) => deps.service.resolveReview(principalOf(request), request.params.id, request.body),
    );

    app.get('/v1/admin/grading/calibrations/:rubricId', { config: { auth: 'required', permission: 'rubrics:manage' }, schema: { tags: ['grading'], summary: 'Recent calibration runs of a rubric (agreement over time)', params: z.strictObject({ rubricId }), docs: { responses: { 200: { description: 'The runs', content: { 'application/json': CalibrationRunsSchema } } } } } }, async (request) => ({
      runs: await deps.calibration.history(request.params.rubricId),
    }));

    app.post('/v1/admin/grading/calibrate', { config: { auth: 'required', permission: 'rubrics:manage' }, schema: { tags: ['grading'], summary: 'Re-grade anchors and overrides; report agreement (QWK, exact)', body: z.strictObject({ rubricId }), docs: { responses: { 200: { description: 'The agreement of this run (a run with nothing to compare is not kept)', content: { 'application/json': CalibrationResultSchema } } }, errors: { 404: 'not_found: no rubric with that rubricId' } } } }, async (request) =>
      deps.calibration.calibrate(request.body.rubricId),
    );
  };
}
