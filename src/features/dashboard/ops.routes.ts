import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import type { Policy } from '../../platform/policy.js';
import type { AnthropicClient } from '../../llm/client/types.js';
import type { CacheManager } from '../cache/cache-manager.js';
import type { FlagAnalytics, FlagAnalyticsSnapshot } from '../flags/flag-analytics.js';
import type { FlagsService } from '../flags/flags.service.js';
import { OpsSchema } from './dashboard.openapi.js';
import { readOpsFigures } from './ops-figures.js';

export interface OpsDeps {
  cache: Pick<CacheManager, 'stats'>;
  flags: Pick<FlagsService, 'list'>;
  flagAnalytics: Pick<FlagAnalytics, 'snapshot'>;
  llm: Pick<AnthropicClient, 'breakerState' | 'keyFingerprint'>;
  policy: Pick<Policy, 'limits'>;
  registry: Pick<Registry, 'getSingleMetric'>;
}

// The dashboard polls this; the per-minute series (up to 60 per flag and variant) are
// dropped so the answer stays small. /v1/admin/flags-analytics has them in full.
export function flagTotals(s: FlagAnalyticsSnapshot) {
  return {
    since: s.since,
    at: s.at,
    flags: Object.fromEntries(
      Object.entries(s.flags).map(([flag, f]) => [flag, { evaluations: f.evaluations, exposures: f.exposures, variants: f.variants, reasons: f.reasons }]),
    ),
  };
}

// One read of the live operating state for the dashboard: what the cache, flags, the
// upstream breaker and the limits look like on this instance right now, plus `figures`
// (cache savings, limiter decisions, answer sources) from its Prometheus counters.
export function opsRoutes(deps: OpsDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/v1/admin/ops',
      {
        // A read, so the dashboard's cookie session may call it (see dashboard.routes.ts on CSRF).
        config: { auth: 'required', permission: 'ops:read', allowSession: true },
        schema: { tags: ['admin'], summary: "This instance's cache, flags, upstream breaker, tier limits and counters", docs: { responses: { 200: { description: 'The operating state', content: { 'application/json': OpsSchema } } } } },
      },
      async () => ({
        cache: deps.cache.stats(),
        flags: deps.flags.list(),
        flagAnalytics: flagTotals(deps.flagAnalytics.snapshot()),
        llm: { breaker: deps.llm.breakerState(), key: deps.llm.keyFingerprint() },
        limits: deps.policy.limits,
        figures: await readOpsFigures(deps.registry),
      }),
    );
  };
}
