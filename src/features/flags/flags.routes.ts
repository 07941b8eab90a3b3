import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { flagRampStepSchema, flagRuleSchema, flagVariantSchema } from './flag-definition.schema.js';
import type { FlagAnalytics } from './flag-analytics.js';
import { FLAG, FlagAnalyticsSchema, FlagAuditSchema, FlagEvaluationSchema, FlagListSchema } from './flags.openapi.js';
import type { FlagsService } from './flags.service.js';
import { principalOf } from '../identity/auth.hook.js';

const key = z.strictObject({ key: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/) });

export function flagsRoutes(flags: FlagsService, analytics?: FlagAnalytics): FastifyPluginAsyncZod {
  return async (app) => {
    const admin = { auth: 'required', permission: 'flags:manage' } as const;
    // The dashboard's toggles: its cookie session may change a flag (with the same-origin
    // and CSRF proofs the auth hook demands) and read the audit. No other flag route takes it.
    const dashboardWrite = { ...admin, allowSessionWrite: true } as const;
    const dashboardRead = { ...admin, allowSession: true } as const;
    app.get('/v1/admin/flags', { config: admin, schema: { tags: ['flags'], summary: 'Every flag as it is in force on this instance', docs: { responses: { 200: { description: 'The flags', content: { 'application/json': FlagListSchema } } } } } }, async () => ({ flags: flags.list() }));
    app.get('/v1/admin/flags/:key', { config: admin, schema: { tags: ['flags'], params: key, docs: { responses: { 200: { description: 'The flag', content: { 'application/json': FLAG } } } } } }, async (request) => flags.get(request.params.key));
    app.put(
      '/v1/admin/flags/:key',
      {
        config: dashboardWrite,
        schema: {
          tags: ['flags'],
          summary: 'Change a flag (kill switch, rollout, targeting, variants, ramp); reaches every instance within a second',
          params: key,
          body: z.strictObject({
            enabled: z.boolean().optional(),
            rollout: z.number().min(0).max(100).optional(),
            // null removes: the targeting rules, the experiment's variants, the ramp
            rules: z.array(flagRuleSchema).max(100).nullable().optional(),
            variants: z.array(flagVariantSchema).max(50).nullable().optional(),
            ramp: z.array(flagRampStepSchema).max(100).nullable().optional(),
          }),
          docs: { responses: { 200: { description: 'The flag as stored now', content: { 'application/json': FLAG } } }, errors: { 409: 'conflict: the flag kept changing under this update; retry it' } },
        },
      },
      async (request) => flags.update(request.params.key, request.body as Parameters<FlagsService['update']>[1], principalOf(request).userId),
    );
    app.get('/v1/admin/flags/:key/audit', { config: dashboardRead, schema: { tags: ['flags'], summary: "A flag's changes", params: key, docs: { responses: { 200: { description: 'Who changed the flag, when, from what to what', content: { 'application/json': FlagAuditSchema } } } } } }, async (request) => ({ entries: await flags.audit(request.params.key) }));
    app.get(
      '/v1/admin/flags/:key/evaluate',
      { config: admin, schema: { tags: ['flags'], params: key, summary: 'What a flag gives one user (roles comma-separated)', querystring: z.strictObject({ userId: z.string().min(1).max(200), tier: z.string().max(20).default('premium'), roles: z.string().max(100).default('learner') }), docs: { responses: { 200: { description: 'The evaluation', content: { 'application/json': FlagEvaluationSchema } } } } } },
      async (request) => flags.evaluate(request.params.key, { userId: request.query.userId, tier: request.query.tier, roles: request.query.roles.split(',') }),
    );
    if (analytics) app.get('/v1/admin/flags-analytics', { config: admin, schema: { tags: ['flags'], summary: "This instance's flag evaluations and exposures, with per-minute series", docs: { responses: { 200: { description: 'The counts since this instance started', content: { 'application/json': FlagAnalyticsSchema } } } } } }, async () => analytics.snapshot());
  };
}
