import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { parseDuration } from '../../platform/duration.js';
import { BadRequestError } from '../../platform/errors.js';
import { TIERS } from '../../platform/policy.schema.js';
import { principalOf } from './auth.hook.js';
import { MeSchema, NewApiKeySchema, SUBSCRIPTION, USER, UserDetailsSchema, UserListSchema, UserSubscriptionSchema } from './identity.openapi.js';
import type { IdentityService } from './identity.service.js';
import { ROLES, USER_ID_PATTERN, type Principal } from './identity.types.js';

export interface MeExtras {
  // Filled by the limits and budgets features: what the caller has left right now.
  remaining?: (p: Principal) => Promise<Record<string, unknown>>;
}

const userId = z.string().regex(USER_ID_PATTERN, 'letters, digits and _ . @ - only, not . or .. alone');
const userParams = z.strictObject({ id: userId });

export function identityRoutes(identity: IdentityService, extras: MeExtras): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/v1/me', { config: { auth: 'required' }, schema: { tags: ['identity'], summary: 'The caller: principal, tier, roles, entitlements, remaining limits and budget', docs: { responses: { 200: { description: 'The caller', content: { 'application/json': MeSchema } } } } } }, async (request) => {
      const p = principalOf(request);
      return {
        userId: p.userId,
        roles: p.roles,
        tier: p.tier,
        entitlements: p.entitlements,
        authenticatedWith: p.via,
        subscription: p.subscription ?? null,
        ...(extras.remaining ? await extras.remaining(p) : {}),
      };
    });

    const admin = { auth: 'required', permission: 'users:manage' } as const;

    app.get('/v1/admin/users', { config: admin, schema: { tags: ['admin'], summary: 'Users, a page at a time by id', querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(100), after: userId.optional() }), docs: { responses: { 200: { description: 'A page of users', content: { 'application/json': UserListSchema } } } } } }, async (request) => {
      return { users: await identity.listUsers(request.query.limit, request.query.after) };
    });

    app.post('/v1/admin/users', { config: admin, schema: { tags: ['admin'], body: z.strictObject({ id: userId, roles: z.array(z.enum(ROLES)).min(1).default(['learner']), tier: z.enum(TIERS).default('free') }), docs: { responses: { 201: { description: 'Created', content: { 'application/json': USER } } }, errors: { 409: 'conflict: a user with that id exists' } } } }, async (request, reply) => {
      const user = await identity.createUser(request.body);
      return reply.status(201).send(user);
    });

    app.get('/v1/admin/users/:id', { config: admin, schema: { tags: ['admin'], summary: 'A user with their subscription and API keys', params: userParams, docs: { responses: { 200: { description: 'The user', content: { 'application/json': UserDetailsSchema } } } } } }, async (request) => {
      const [user, subscription, keys] = await Promise.all([
        identity.getUser(request.params.id),
        identity.subscription(request.params.id),
        identity.listApiKeys(request.params.id),
      ]);
      return { user, subscription, keys };
    });

    app.patch('/v1/admin/users/:id', { config: admin, schema: { tags: ['admin'], params: userParams, summary: 'Change roles or disable a user', body: z.strictObject({ roles: z.array(z.enum(ROLES)).min(1).optional(), disabled: z.boolean().optional() }), docs: { responses: { 200: { description: 'The user as changed', content: { 'application/json': USER } } }, errors: { 409: 'cannot_lock_out_self: an admin may not remove their own admin role or disable themselves' } } } }, async (request) => {
      return identity.changeUser(principalOf(request).userId, request.params.id, request.body);
    });

    app.post('/v1/admin/users/:id/keys', { config: admin, schema: { tags: ['admin'], params: userParams, docs: { responses: { 201: { description: 'Created; the key is shown only now', content: { 'application/json': NewApiKeySchema } } } } } }, async (request, reply) => {
      return reply.status(201).send(await identity.createApiKey(request.params.id));
    });

    app.delete('/v1/admin/users/:id/keys/:keyId', { config: admin, schema: { tags: ['admin'], params: z.strictObject({ id: userId, keyId: z.string().max(100) }), docs: { responses: { 204: { description: 'Revoked' } } } } }, async (request, reply) => {
      await identity.revokeApiKey(request.params.id, request.params.keyId);
      return reply.status(204).send();
    });

    app.get('/v1/admin/users/:id/subscription', { config: admin, schema: { tags: ['admin'], params: userParams, docs: { responses: { 200: { description: "The user's subscription", content: { 'application/json': UserSubscriptionSchema } } } } } }, async (request) => {
      return { subscription: await identity.subscription(request.params.id) };
    });

    app.post(
      '/v1/admin/users/:id/subscription',
      {
        config: admin,
        schema: {
          tags: ['admin'],
          summary: 'Grant, extend or cancel a subscription',
          params: userParams,
          body: z.discriminatedUnion('action', [
            z.strictObject({ action: z.literal('grant'), until: z.iso.datetime({ offset: true }).optional(), status: z.enum(['active', 'trialing']).optional() }),
            z.strictObject({ action: z.literal('extend'), by: z.string() }),
            z.strictObject({ action: z.literal('cancel') }),
          ]),
          docs: { responses: { 200: { description: 'The subscription as changed', content: { 'application/json': SUBSCRIPTION } } } },
        },
      },
      async (request) => {
        const id = request.params.id;
        const body = request.body;
        if (body.action === 'grant') return identity.grant(id, { until: body.until ? Date.parse(body.until) : null, ...(body.status ? { status: body.status } : {}) });
        if (body.action === 'extend') {
          const ms = parseDuration(body.by);
          if (ms === undefined) throw new BadRequestError('by: expected a duration like 30d', 'validation_failed');
          return identity.extend(id, ms);
        }
        return identity.cancel(id);
      },
    );
  };
}
