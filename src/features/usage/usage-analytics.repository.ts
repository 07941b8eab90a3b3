import { PostgresAdapter, sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';

export const GROUP_COLUMNS = ['user', 'feature', 'model', 'day'] as const;
export type GroupColumn = (typeof GROUP_COLUMNS)[number];

const COLUMN: Record<GroupColumn, 'user_id' | 'feature' | 'model' | 'day'> = { user: 'user_id', feature: 'feature', model: 'model', day: 'day' };

export interface UsageRow {
  user?: string;
  feature?: string;
  model?: string;
  day?: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  cacheWriteTokens: number;
  cacheReadTokens: number;
  costUsd: number;
}

// Reads only the per-day rollup, never the ledger, so analytics stay fast as the
// ledger grows; the rollup is written in the same transaction as the ledger row.
export class UsageAnalyticsRepository {
  constructor(private readonly db: Db) {}

  async grouped(q: { groupBy: GroupColumn[]; from: string; to: string; userId?: string; limit?: number; orderByCost?: boolean }): Promise<UsageRow[]> {
    let query = this.db
      .selectFrom('usage_daily')
      .where('day', '>=', q.from)
      .where('day', '<=', q.to)
      .select([
        sql<number>`sum(calls)`.as('calls'),
        sql<number>`sum(input_tokens)`.as('input_tokens'),
        sql<number>`sum(output_tokens)`.as('output_tokens'),
        sql<number>`sum(cache_write_tokens)`.as('cache_write_tokens'),
        sql<number>`sum(cache_read_tokens)`.as('cache_read_tokens'),
        sql<number>`sum(cost_micros)`.as('cost_micros'),
      ]);
    if (q.userId) query = query.where('user_id', '=', q.userId);
    for (const g of q.groupBy) query = query.select(COLUMN[g]).groupBy(COLUMN[g]);
    // Rows in the order of their group columns, compared as SQLite does (binary; a Postgres
    // with a locale's collation would put "a" before "B"); by cost, ties in that order too,
    // so a cut at `limit` keeps the same rows on every read and on both stores.
    const binary = this.db.getExecutor().adapter instanceof PostgresAdapter;
    if (q.orderByCost) query = query.orderBy(sql`sum(cost_micros)`, 'desc');
    for (const g of q.groupBy) query = query.orderBy(binary ? sql`${sql.ref(COLUMN[g])} collate "C"` : sql.ref(COLUMN[g]));
    if (q.limit) query = query.limit(q.limit);
    const rows = (await query.execute()) as Record<string, unknown>[];
    return rows.map((r) => {
      const out: UsageRow = {
        calls: Number(r.calls ?? 0),
        inputTokens: Number(r.input_tokens ?? 0),
        outputTokens: Number(r.output_tokens ?? 0),
        cacheWriteTokens: Number(r.cache_write_tokens ?? 0),
        cacheReadTokens: Number(r.cache_read_tokens ?? 0),
        costUsd: Number(r.cost_micros ?? 0) / 1e6,
      };
      for (const g of q.groupBy) out[g] = String(r[COLUMN[g]]);
      return out;
    });
  }

  // The read interface other features use for cost (e.g. the cost-per-learner guardrail of experiments).
  async costByUser(feature: string, since: number): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('usage_ledger')
      .select(['user_id', sql<number>`sum(cost_micros)`.as('cost')])
      .where('feature', '=', feature)
      .where('status', '=', 'settled')
      .where('created_at', '>=', since)
      .groupBy('user_id')
      .execute();
    return new Map(rows.map((r) => [r.user_id, Number(r.cost)]));
  }
}

export function toCsv(rows: UsageRow[], groupBy: GroupColumn[]): string {
  const cols = [...groupBy, 'calls', 'inputTokens', 'outputTokens', 'cacheWriteTokens', 'cacheReadTokens', 'costUsd'] as const;
  // A leading = + - @ would make a spreadsheet evaluate a user id as a formula.
  const cell = (v: unknown) => {
    const s = String(v ?? '');
    const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
    return /[",\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
  };
  return [cols.join(','), ...rows.map((r) => cols.map((c) => cell(r[c as keyof UsageRow])).join(','))].join('\n') + '\n';
}
