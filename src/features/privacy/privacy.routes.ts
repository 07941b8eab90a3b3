import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../identity/auth.hook.js';
import { USER_ID_PATTERN } from '../identity/identity.types.js';
import type { PersonalDataService } from './personal-data.service.js';
import { ERASURE, PERSONAL_DATA_EXPORT } from './privacy.openapi.js';

const userParams = z.strictObject({ id: z.string().regex(USER_ID_PATTERN, 'letters, digits and _ . @ - only, not . or .. alone') });

// Fastify's request lines carry the URL, which holds the id of the learner being exported
// or erased: at warn these routes log only failures (the erasure's own line names the
// learner by hash, personal-data.service.ts).
const quiet = { logLevel: 'warn' } as const;

export function privacyRoutes(service: PersonalDataService): FastifyPluginAsyncZod {
  return async (app) => {
    const admin = { auth: 'required', permission: 'users:manage' } as const;

    app.get(
      '/v1/admin/users/:id/export',
      { ...quiet, config: admin, schema: { tags: ['admin'], summary: 'Everything held about a user, as one JSON document (right of access)', params: userParams, docs: { responses: { 200: { description: 'The export', content: { 'application/json': PERSONAL_DATA_EXPORT } } } } } },
      async (request, reply) => {
        // A download: a browser saves it rather than rendering it, and nothing caches it.
        reply.header('cache-control', 'no-store').header('content-disposition', 'attachment; filename="tutorgate-export.json"');
        return service.export(request.params.id);
      },
    );

    app.delete(
      '/v1/admin/users/:id',
      {
        ...quiet,
        config: admin,
        schema: {
          tags: ['admin'],
          summary: "Erase a user's personal data in one transaction; usage and billing rows are kept under a pseudonym, so every total stays as it was",
          params: userParams,
          docs: {
            responses: { 200: { description: 'Erased: rows removed and pseudonymised, by kind', content: { 'application/json': ERASURE } } },
            errors: { 404: 'not_found: nothing is held under that id (also a second erasure)', 409: 'call_in_flight: a metered call of the user is in flight, retry after Retry-After; or cannot_erase_self: an admin cannot erase themselves' },
            retryAfter: [409],
          },
        },
      },
      async (request) => {
        const p = principalOf(request);
        return service.erase(request.params.id, { userId: p.userId, label: p.userId });
      },
    );
  };
}
