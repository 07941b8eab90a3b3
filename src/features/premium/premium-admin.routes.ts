import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Clock } from '../../platform/clock.js';
import { NotFoundError } from '../../platform/errors.js';
import type { Policy } from '../../platform/policy.js';
import type { CacheManager } from '../cache/cache-manager.js';
import { purgeTags } from '../cache/cache-key.js';
import type { IdentityService } from '../identity/identity.service.js';
import { USER_ID_PATTERN } from '../identity/identity.types.js';
import type { BudgetRepository } from '../usage/budget.repository.js';
import { microsFromUsd } from '../usage/price-book.js';
import { CachePurgeSchema, RateLimitsSchema, UserBudgetSchema, UserLimitsSchema, UserOverridesSchema } from './premium.openapi.js';
import type { UserOverridesReader } from './user-overrides.js';

const userParams = z.strictObject({ id: z.string().regex(USER_ID_PATTERN) });
const limitOverride = z.strictObject({
  requestsPerMinute: z.int().positive().max(1_000_000).optional(),
  requestsPerHour: z.int().positive().max(10_000_000).optional(),
  tokensPerDay: z.int().positive().max(1_000_000_000).optional(),
  concurrent: z.int().positive().max(1000).optional(),
});

// A tag as the cache writes it: `kind:value`. A catalog version is whatever the catalog
// import accepts (any non-empty text: `2026.11+build.7`, spaces, accents), so `catalog:` takes
// any value; the request guard has already refused text no store can hold. The other values
// (rubric and user ids, feature names) keep their own characters.
const cacheTag = z.string().superRefine((tag, ctx) => {
  if (tag.startsWith('catalog:')) {
    if (tag.length === 'catalog:'.length) ctx.addIssue({ code: 'custom', message: 'catalog:VERSION needs the version, as imported' });
  } else if (!/^[a-z_]+:[A-Za-z0-9_.@:-]{1,200}$/.test(tag)) {
    ctx.addIssue({ code: 'custom', message: 'expected KIND:VALUE (e.g. rubric:ID, feature:grading, user:ID, catalog:VERSION): KIND in a-z and _, VALUE 1-200 of letters, digits and _ . @ : - (a catalog version may be anything imported)' });
  }
}).meta({ description: 'KIND:VALUE: rubric:ID, feature:grading, user:ID (1-200 of letters, digits and _ . @ : -), or catalog:VERSION with the version exactly as imported (any text, e.g. 2026.11+build.7)' });

// Overrides are rows in the store, read on every premium request, so a change applies
// on every instance at once, with no restart.
export function premiumAdminRoutes(deps: { budgets: BudgetRepository; overrides: Pick<UserOverridesReader, 'invalidate'>; identity: IdentityService; cache: CacheManager; policy: Policy; clock: Clock }): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/v1/admin/rate-limits', { config: { auth: 'required', permission: 'limits:manage' }, schema: { tags: ['admin'], summary: 'Tier limits from the policy', docs: { responses: { 200: { description: 'The limits per tier', content: { 'application/json': RateLimitsSchema } } } } } }, async () => ({ tiers: deps.policy.limits }));

    app.put(
      '/v1/admin/users/:id/limits',
      { config: { auth: 'required', permission: 'limits:manage' }, schema: { tags: ['admin'], summary: "Override a user's limits (null clears)", params: userParams, body: limitOverride.nullable(), docs: { responses: { 200: { description: 'The override as stored', content: { 'application/json': UserLimitsSchema } } } } } },
      async (request) => {
        await deps.identity.getUser(request.params.id);
        await deps.budgets.putOverride(request.params.id, { limits: request.body }, deps.clock.now());
        deps.overrides.invalidate(request.params.id);
        return { userId: request.params.id, limits: request.body };
      },
    );

    app.put(
      '/v1/admin/users/:id/budget',
      { config: { auth: 'required', permission: 'limits:manage' }, schema: { tags: ['admin'], summary: "Override a user's monthly budget in USD (null clears)", params: userParams, body: z.strictObject({ monthlyUsd: z.number().min(0).max(1_000_000).nullable() }), docs: { responses: { 200: { description: 'The override as stored', content: { 'application/json': UserBudgetSchema } } } } } },
      async (request) => {
        await deps.identity.getUser(request.params.id);
        const micros = request.body.monthlyUsd === null ? null : microsFromUsd(request.body.monthlyUsd);
        await deps.budgets.putOverride(request.params.id, { monthlyBudgetMicros: micros }, deps.clock.now());
        deps.overrides.invalidate(request.params.id);
        return { userId: request.params.id, monthlyUsd: request.body.monthlyUsd };
      },
    );

    app.get('/v1/admin/users/:id/overrides', { config: { auth: 'required', permission: 'limits:manage' }, schema: { tags: ['admin'], summary: "A user's own limits and budget", params: userParams, docs: { responses: { 200: { description: 'The overrides (404 when none was ever set)', content: { 'application/json': UserOverridesSchema } } } } } }, async (request) => {
      const o = await deps.budgets.getOverride(request.params.id);
      if (!o) throw new NotFoundError('Override');
      return { userId: request.params.id, limits: o.limits, monthlyUsd: o.monthlyBudgetMicros === null ? null : o.monthlyBudgetMicros / 1e6 };
    });

    app.post(
      '/v1/admin/cache/invalidate',
      {
        config: { auth: 'required', permission: 'cache:manage' },
        schema: {
          tags: ['admin'],
          summary: 'Purge cached answers by tag (e.g. rubric:ID, feature:grading, catalog:VERSION, user:ID) on every instance',
          body: z.strictObject({ tags: z.array(cacheTag).min(1).max(100) }),
          docs: { responses: { 200: { description: 'Purged', content: { 'application/json': CachePurgeSchema } } }, errors: { 503: 'service_unavailable: the purge did not reach Redis or the store cannot be reached, or shutting_down: this instance is draining; retry shortly' } },
        },
      },
      async (request) => ({ purged: await deps.cache.invalidateTags(purgeTags(request.body.tags)) }),
    );
  };
}
