import { expect } from 'vitest';
import type { Db } from '../../src/platform/db/database.js';
import type { ChargeRecord } from '../../src/llm/simulator/types.js';

// The budget counters a settled row counts against under the built-in budgets
// (per user monthly, per feature daily, global daily). Settling clears budget_keys, so
// they are derived from the row as budgetLines() derives them at reservation time.
export function budgetKeysOf(row: { user_id: string; feature: string; day: string }): string[] {
  return [`user:${row.user_id}:${row.day.slice(0, 7)}`, `feature:${row.feature}:${row.day}`, `global:${row.day}`];
}

export interface LedgerSnapshot {
  rows: {
    id: string;
    message_id: string | null;
    status: string;
    outcome: string;
    cost_micros: number;
    reserved_micros: number;
    user_id: string;
    feature: string;
    day: string;
    tokens: { input: number; output: number; cacheCreation: number; cacheRead: number };
  }[];
  counters: { key: string; spent_micros: number; reserved_micros: number }[];
}

export async function readLedger(db: Db): Promise<LedgerSnapshot> {
  const rows = (await db.selectFrom('usage_ledger').selectAll().execute()).map((r) => ({
    id: r.id,
    message_id: r.message_id,
    status: r.status,
    outcome: r.outcome,
    cost_micros: Number(r.cost_micros),
    reserved_micros: Number(r.reserved_micros),
    user_id: r.user_id,
    feature: r.feature,
    day: r.day,
    tokens: {
      input: Number(r.input_tokens),
      output: Number(r.output_tokens),
      cacheCreation: Number(r.cache_write_5m_tokens) + Number(r.cache_write_1h_tokens),
      cacheRead: Number(r.cache_read_tokens),
    },
  }));
  const counters = (await db.selectFrom('budget_counters').select(['key', 'spent_micros', 'reserved_micros']).execute()).map((c) => ({
    key: c.key,
    spent_micros: Number(c.spent_micros),
    reserved_micros: Number(c.reserved_micros),
  }));
  return { rows, counters };
}

/** Every budget counter holds no reservation and has spent exactly what the settled rows on its key cost. */
export function expectCountersMatchLedger(s: LedgerSnapshot): void {
  const expected = new Map<string, number>();
  for (const r of s.rows.filter((x) => x.status === 'settled')) {
    for (const key of budgetKeysOf(r)) expected.set(key, (expected.get(key) ?? 0) + r.cost_micros);
  }
  for (const c of s.counters) {
    expect(c.reserved_micros, `reserved_micros of ${c.key}`).toBe(0);
    expect(c.spent_micros, `spent_micros of ${c.key}`).toBe(expected.get(c.key) ?? 0);
  }
  for (const [key, spent] of expected) {
    if (spent > 0) expect(s.counters.some((c) => c.key === key), `a counter for ${key}`).toBe(true);
  }
}

/**
 * After any mix of upstream successes and failures (no crash): one settled row per billed
 * upstream answer, every token the upstream billed in the ledger exactly once (a stream that
 * broke off is billed what it reported, in the row of its call, which has the id of the call's
 * answer if a retry got one), nothing pending, nothing counted twice.
 */
export async function expectLedgerMatchesCharges(db: Db, charges: ChargeRecord[]): Promise<LedgerSnapshot> {
  const s = await readLedger(db);
  expect(s.rows.filter((r) => r.status !== 'settled')).toEqual([]);
  const ids = s.rows.filter((r) => r.message_id !== null).map((r) => r.message_id!);
  expect(new Set(ids).size, 'message ids are unique in the ledger').toBe(ids.length);
  expect([...ids].sort()).toEqual(charges.filter((c) => !c.partial).map((c) => c.id).sort());
  const sum = (list: { input: number; output: number; cacheCreation: number; cacheRead: number }[]) =>
    list.reduce((a, t) => ({ input: a.input + t.input, output: a.output + t.output, cacheCreation: a.cacheCreation + t.cacheCreation, cacheRead: a.cacheRead + t.cacheRead }), { input: 0, output: 0, cacheCreation: 0, cacheRead: 0 });
  const charged = sum(charges.map((c) => ({ input: c.inputTokens, output: c.outputTokens, cacheCreation: c.cacheCreationInputTokens, cacheRead: c.cacheReadInputTokens })));
  expect(sum(s.rows.map((r) => r.tokens)), 'the ledger holds every billed token once').toEqual(charged);
  // A row without tokens is a call that never reached a billed answer: it costs nothing.
  for (const r of s.rows) if (Object.values(r.tokens).every((n) => n === 0)) expect(r.cost_micros, `row ${r.id} (${r.outcome})`).toBe(0);
  expectCountersMatchLedger(s);
  return s;
}

/**
 * The limits a user's GET /v1/me reports agree with the books: no concurrency slot is still
 * held (nothing is in flight), and each feature's tokensPerDay has used exactly the tokens of
 * that user's ledger rows for the feature (a failed call gives its estimate back; a broken
 * stream keeps what it was billed), neither a leaked reservation nor a lost settlement.
 */
export async function expectLimitsMatchLedger(db: Db, me: { userId: string; limits: Record<string, Record<string, { limit: number; remaining: number }> | { unavailable: true }> }): Promise<void> {
  const s = await readLedger(db);
  for (const [feature, usage] of Object.entries(me.limits)) {
    expect(usage, `limits of ${feature} readable`).not.toHaveProperty('unavailable');
    const u = usage as Record<string, { limit: number; remaining: number }>;
    if (u['concurrent']) expect(u['concurrent'].remaining, `${feature}: concurrency slots still held`).toBe(u['concurrent'].limit);
    if (u['tokensPerDay']) {
      const used = s.rows
        .filter((r) => r.user_id === me.userId && r.feature === feature)
        .reduce((n, r) => n + r.tokens.input + r.tokens.output + r.tokens.cacheCreation + r.tokens.cacheRead, 0);
      expect(u['tokensPerDay'].limit - u['tokensPerDay'].remaining, `${feature}: tokensPerDay used vs the ledger`).toBe(used);
    }
  }
}
