import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DAY_MS, isCalendarDay, isoDay, type Clock } from '../../platform/clock.js';
import { ValidationError } from '../../platform/errors.js';
import type { Policy } from '../../platform/policy.js';
import { principalOf } from '../identity/auth.hook.js';
import type { BudgetRepository } from './budget.repository.js';
import { MyUsageSchema, UsageReportSchema } from './usage.openapi.js';
import { budgetNoticeKey, serviceBudgetLines, usedRatio } from './budget-policy.js';
import { GROUP_COLUMNS, toCsv, type GroupColumn, type UsageAnalyticsRepository } from './usage-analytics.repository.js';

const day = z
  .string()
  .refine(isCalendarDay, 'expected a day YYYY-MM-DD, from 1970 on')
  .meta({ format: 'date', description: 'A UTC day, YYYY-MM-DD, from 1970 on; either end defaults from the other (30 days ending today); from..to spans at most 366 days' });
const range = { from: day.optional(), to: day.optional() };

/** The longest range one request may ask for; the dashboard draws a day per slot. */
export const MAX_RANGE_DAYS = 366;

// A range that ends before it starts, or spans more than a year, is a mistake to name,
// not a silent empty or cut answer. Either end defaults from the other (30 days, ending today).
function resolveRange(clock: Clock, q: { from?: string | undefined; to?: string | undefined }, days = 30) {
  const to = q.to ?? isoDay(clock.now());
  const from = q.from ?? isoDay(Date.parse(to) - (days - 1) * DAY_MS);
  if (from > to) {
    const path = q.from ? 'querystring.from' : 'querystring.to';
    throw new ValidationError(`Invalid request: ${path}: the range starts (${from}) after it ends (${to})`, [{ path, message: `the range starts (${from}) after it ends (${to})` }]);
  }
  const span = (Date.parse(to) - Date.parse(from)) / DAY_MS + 1;
  if (span > MAX_RANGE_DAYS) {
    const message = `the range spans ${span} days; ask for at most ${MAX_RANGE_DAYS} at a time`;
    throw new ValidationError(`Invalid request: querystring.from: ${message}`, [{ path: 'querystring.from', message }]);
  }
  return { from, to };
}

export function usageRoutes(deps: { analytics: UsageAnalyticsRepository; budgets: BudgetRepository; policy: Policy; clock: Clock }): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/v1/usage/me', { config: { auth: 'required' }, schema: { tags: ['usage'], summary: "The caller's tokens and cost by feature and day, over at most 366 days (default: the last 30)", querystring: z.strictObject(range), docs: { responses: { 200: { description: "The caller's usage", content: { 'application/json': MyUsageSchema } } } } } }, async (request) => {
      const p = principalOf(request);
      const { from, to } = resolveRange(deps.clock, request.query);
      const [byFeatureDay, totals] = await Promise.all([
        deps.analytics.grouped({ groupBy: ['feature', 'day'], from, to, userId: p.userId }),
        deps.analytics.grouped({ groupBy: [], from, to, userId: p.userId }),
      ]);
      return { userId: p.userId, from, to, totals: totals[0], byFeatureDay };
    });

    app.get(
      '/v1/admin/usage',
      {
        config: { auth: 'required', permission: 'usage:read-any', allowSession: true },
        schema: {
          tags: ['usage'],
          summary: 'Usage analytics grouped by user, feature, model and day, over at most 366 days; CSV with format=csv',
          querystring: z.strictObject({
            groupBy: z
              .string()
              .default('feature,day')
              .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
              .pipe(z.array(z.enum(GROUP_COLUMNS)).max(4))
              .meta({ description: `Comma-separated columns to group by, among ${GROUP_COLUMNS.join(', ')} (e.g. user,day); an empty value gives one total row` }),
            ...range,
            top: z.coerce.number().int().min(1).max(1000).optional().meta({ description: 'Only the N costliest rows, costliest first' }),
            format: z.enum(['json', 'csv']).default('json'),
          }),
          docs: { responses: { 200: { description: 'The report; with format=csv the rows alone, as a CSV attachment', content: { 'application/json': UsageReportSchema, 'text/csv': z.string() } } } },
        },
      },
      async (request, reply) => {
        const { from, to } = resolveRange(deps.clock, request.query);
        const groupBy = [...new Set(request.query.groupBy)] as GroupColumn[];
        const rows = await deps.analytics.grouped({ groupBy, from, to, ...(request.query.top ? { limit: request.query.top, orderByCost: true } : {}) });
        if (request.query.format === 'csv') return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="usage.csv"').send(toCsv(rows, groupBy));
        const [totals, topUsers] = await Promise.all([
          deps.analytics.grouped({ groupBy: [], from, to }),
          deps.analytics.grouped({ groupBy: ['user'], from, to, limit: 10, orderByCost: true }),
        ]);
        return { from, to, groupBy, rows, totals: totals[0], topUsers, budgets: await burn(deps) };
      },
    );
  };
}

// Spend against the service-wide budgets right now.
async function burn(deps: { budgets: BudgetRepository; policy: Policy; clock: Clock }) {
  const now = deps.clock.now();
  const lines = serviceBudgetLines(deps.policy, now);
  const [state, exhausted] = await Promise.all([deps.budgets.read(lines.map((l) => l.key)), deps.budgets.claimed(lines.map((l) => budgetNoticeKey(l.key, 1)))]);
  return lines.map((l) => {
    const s = state.get(l.key) ?? { spent: 0, reserved: 0 };
    const used = usedRatio(s.spent, l.capMicros);
    // Exhausted also short of the cap: the budget refused a call whose worst case did not fit.
    return { budget: l.key, capUsd: l.capMicros / 1e6, spentUsd: s.spent / 1e6, reservedUsd: s.reserved / 1e6, used, exhausted: used >= 1 || exhausted.has(budgetNoticeKey(l.key, 1)) };
  });
}
