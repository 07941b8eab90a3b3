import type { Clock } from '../../platform/clock.js';
import { isoDay } from '../../platform/clock.js';
import type { Store } from '../../platform/db/database.js';
import type { TxBody } from '../../platform/db/transaction-runner.js';
import { UnauthorizedError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { BudgetRefused, BudgetRepository, type BudgetLine } from './budget.repository.js';
import { budgetNoticeKey } from './budget-policy.js';
import type { PriceBook, PriceQuote, TokenUsage } from './price-book.js';
import { UsageLedgerRepository, type LedgerRow } from './usage-ledger.repository.js';
import { isServicePrincipal } from '../../platform/db/while-user-stands.js';
import { erasedPseudonym } from '../../platform/pseudonym.js';

// One upstream call as the LLM client reports it.
export interface MeteredCall {
  model: string;
  messageId?: string;
  requestId?: string;
  latencyMs: number;
  usage: TokenUsage;
  outcome: string;
  batch?: boolean;
}

export interface Reservation {
  id: string;
  userId: string;
  feature: string;
  model: string;
  reservedMicros: number;
  keys: string[];
  createdAt: number;
}

export interface UsageSummary {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number;
}

export const ZERO_SUMMARY: UsageSummary = Object.freeze({ inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 });

export interface BudgetThresholdEvent {
  key: string;
  threshold: 0.8 | 1;
  spentMicros: number;
  capMicros: number;
  // Exhausted by refusing a call rather than by spend reaching the cap: a budget refuses
  // once a call's worst case no longer fits, so its spend may stop short of the cap.
  refused?: true;
}

// Calls priced at one instant, ready to settle.
export interface PricedCalls {
  at: number;
  priced: { c: MeteredCall; q: PriceQuote }[];
  total: number;
  summary: UsageSummary;
}

// The user was erased after their request authenticated: the reservation is refused (its
// pending row would be written under the id the erasure removed) and the caller hears what
// any request with that user's credentials now hears. Not a budget refusal: it answers
// 401, not the rules engine's answer, which would write the learner's data again.
export class UserErasedError extends UnauthorizedError {
  constructor() {
    super('The user no longer exists (erased while this request was in flight).');
  }
}

export type ReserveResult = { ok: true; reservation: Reservation } | { ok: false; refusedKey: string };

// Crash safety: the budget reservation and a pending ledger row are written in ONE
// transaction before the upstream call; settling updates both in one transaction
// after it. A crash in between leaves a pending row that reconcile() settles at its
// reserved (worst-case) amount, so spend is never under-counted or counted twice.
// Each transaction body is a generator (see transaction-runner.ts): the same code runs
// synchronously on SQLite and with awaits on Postgres.
export class MeteringService {
  private readonly budgets: BudgetRepository;
  private readonly ledger: UsageLedgerRepository;
  private readonly refusalNoticed = new Set<string>();

  constructor(
    private readonly store: Pick<Store, 'db' | 'transact'>,
    private readonly prices: PriceBook,
    private readonly clock: Clock,
    private readonly onThreshold?: (e: BudgetThresholdEvent) => void,
  ) {
    this.budgets = new BudgetRepository(store.db);
    this.ledger = new UsageLedgerRepository(store.db);
  }

  // `at`: the instant the budget lines were named for (their day and month). The ledger row
  // is dated by it, so the row and the daily roll-up fall in the periods whose budgets the
  // call is charged to, even when midnight UTC passed while the caller got here.
  async reserve(p: { userId: string; feature: string; model: string; worstCaseMicros: number; lines: BudgetLine[]; at?: number; source?: string }): Promise<ReserveResult> {
    const now = this.clock.now();
    const reservation: Reservation = {
      id: newId('use'),
      userId: p.userId,
      feature: p.feature,
      model: p.model,
      reservedMicros: p.worstCaseMicros,
      keys: p.lines.map((l) => l.key),
      createdAt: p.at ?? now,
    };
    const pending = this.row(reservation, { status: 'pending', outcome: 'pending', source: 'llm', reserved_micros: p.worstCaseMicros });
    try {
      await this.store.transact(() => this.reserveTx(p.lines, p.worstCaseMicros, now, pending));
    } catch (err) {
      if (err instanceof BudgetRefused) {
        const line = p.lines.find((l) => l.key === err.key);
        if (line && this.onThreshold) await this.noticeRefusal(line);
        return { ok: false, refusedKey: err.key };
      }
      throw err;
    }
    return { ok: true, reservation };
  }

  // A refused line throws out of the body, so the lines before it and the row roll back.
  // The row first: its insert checks that the user still exists and, on Postgres, locks the
  // user's row before any budget counter, the order an erasure takes them in (ADR 0016).
  private *reserveTx(lines: BudgetLine[], amount: number, now: number, pending: LedgerRow): TxBody<void> {
    // Service principals (`system:calibration`) have no user row, and no person to erase: a
    // ':' cannot occur in a user's id (USER_ID_PATTERN).
    if (isServicePrincipal(pending.user_id)) yield* this.ledger.insertIn(pending);
    else if (!(yield* this.ledger.insertForUserIn(pending))) throw new UserErasedError();
    yield* this.budgets.reserveIn(lines, amount, now);
  }

  // Settles the reservation to the calls actually made (none, one, or several with a
  // repair); zero calls releases it.
  async settle(r: Reservation, calls: MeteredCall[], source: string, lines: BudgetLine[] = []): Promise<UsageSummary> {
    const bill = this.price(calls);
    await this.settlePriced(r, bill, source, lines);
    return bill.summary;
  }

  // What the calls cost at today's prices, without touching the database: the premium
  // pipeline answers with it and writes the books after the answer (settlePriced).
  price(calls: MeteredCall[]): PricedCalls {
    const now = this.clock.now();
    const priced = calls.map((c) => ({ c, q: this.prices.cost(c.model, c.usage, now, c.batch === true) }));
    const total = priced.reduce((s, x) => s + x.q.costMicros, 0);
    return { at: now, priced, total, summary: summarize(calls, total) };
  }

  async settlePriced(r: Reservation, bill: PricedCalls, source: string, lines: BudgetLine[] = []): Promise<void> {
    const spent = await this.store.transact(() => this.settleTx(r, bill.priced, source, bill.total, bill.at));
    if (lines.length && this.onThreshold && bill.total > 0) await this.checkThresholds(lines, spent);
  }

  // Returns the spend of each budget right after this settle (empty when it was settled before).
  private *settleTx(r: Reservation, priced: { c: MeteredCall; q: PriceQuote }[], source: string, total: number, now: number): TxBody<Map<string, number>> {
    const [first, ...rest] = priced;
    const firstPatch = first ? this.callFields(first.c, first.q.costMicros, first.q.version, source) : { outcome: 'no_call', source, cost_micros: 0 };
    const owner = yield* this.ledger.settleIn(r.id, { ...firstPatch, settled_at: now, budget_keys: null });
    if (owner === undefined) return new Map(); // settled before: nothing may count twice
    // Booked to whom the row is booked to now: an erased user's row carries their pseudonym,
    // and the roll-up must not bring the real id back (ADR 0016).
    const booked = owner === r.userId ? r : { ...r, userId: owner };
    if (first) yield* this.ledger.rollupIn(this.row(booked, { ...firstPatch, status: 'settled' }));
    for (const x of rest) {
      const row = this.row({ ...booked, id: newId('use') }, { ...this.callFields(x.c, x.q.costMicros, x.q.version, source), status: 'settled', settled_at: now, reserved_micros: 0, budget_keys: null });
      if (yield* this.ledger.insertIn(row)) yield* this.ledger.rollupIn(row);
    }
    return yield* this.budgets.settleIn(r.keys, r.reservedMicros, total, now);
  }

  release(r: Reservation): Promise<UsageSummary> {
    return this.settle(r, [], 'released');
  }

  // Records calls that had no reservation of their own (batch results). The upstream has
  // billed them, so their cost is added to the budgets in `lines` (the feature's and the global
  // daily ones, named for `at`, which also dates the row), in the transaction that writes the
  // row: later calls of that day are held against spend that really happened. Nothing is
  // refused, whatever the cap. A user erased since the batch began is billed under their
  // pseudonym (ADR 0016).
  async recordUnreserved(p: { userId: string; feature: string; lines?: BudgetLine[]; at?: number }, calls: MeteredCall[], source: string): Promise<UsageSummary> {
    const at = p.at ?? this.clock.now();
    const lines = p.lines ?? [];
    const r: Reservation = { id: newId('use'), userId: p.userId, feature: p.feature, model: calls[0]?.model ?? 'none', reservedMicros: 0, keys: [], createdAt: at };
    const pending = this.row(r, { status: 'pending', outcome: 'pending', source, reserved_micros: 0 });
    const bill = this.price(calls);
    const spent = await this.store.transact(() => this.unreservedTx(r, pending, bill, source, lines));
    if (lines.length && this.onThreshold && bill.total > 0) await this.checkThresholds(lines, spent);
    return bill.summary;
  }

  private *unreservedTx(r: Reservation, pending: LedgerRow, bill: PricedCalls, source: string, lines: BudgetLine[]): TxBody<Map<string, number>> {
    // Billed whoever it was for: a user erased since the batch was created gets the row under
    // their pseudonym, and settleTx books the roll-up to whom the row names (ADR 0016).
    const inserted = isServicePrincipal(pending.user_id) ? yield* this.ledger.insertIn(pending) : yield* this.ledger.insertBilledIn(pending, erasedPseudonym(pending.user_id));
    if (!inserted) return new Map();
    yield* this.settleTx(r, bill.priced, source, bill.total, bill.at);
    return bill.total > 0 && lines.length ? yield* this.budgets.chargeIn(lines.map((l) => l.key), bill.total, bill.at) : new Map();
  }

  // At start-up: pending rows older than `olderThanMs` belong to a process that died
  // mid-call. Their reservation is charged in full (the call may have been billed).
  async reconcile(olderThanMs: number): Promise<number> {
    const now = this.clock.now();
    const stale = await this.ledger.pendingOlderThan(now - olderThanMs);
    for (const row of stale) await this.store.transact(() => this.reconcileTx(row, now));
    return stale.length;
  }

  private *reconcileTx(row: LedgerRow, now: number): TxBody<void> {
    const patch = { outcome: 'unknown_after_crash', cost_micros: Number(row.reserved_micros), settled_at: now, budget_keys: null };
    if ((yield* this.ledger.settleIn(row.id, patch)) === undefined) return;
    yield* this.ledger.rollupIn({ ...row, ...patch, status: 'settled' });
    const keys = row.budget_keys ? (JSON.parse(row.budget_keys) as string[]) : [];
    yield* this.budgets.settleIn(keys, Number(row.reserved_micros), Number(row.reserved_micros), now);
  }

  // The exhausted notice of a budget that refuses calls before its spend reaches the cap. A
  // refused budget goes on refusing for the rest of its period: after the first refusal here
  // the claim is not asked for again.
  private async noticeRefusal(line: BudgetLine): Promise<void> {
    const key = budgetNoticeKey(line.key, 1);
    if (this.refusalNoticed.has(key)) return;
    this.refusalNoticed.add(key);
    if (this.refusalNoticed.size > 10_000) this.refusalNoticed.clear(); // periods pass; a bound, not an index
    try {
      if (!(await this.budgets.claimNotification(key, this.clock.now()))) return;
      const spent = (await this.budgets.read([line.key])).get(line.key)?.spent ?? 0;
      this.onThreshold?.({ key: line.key, threshold: 1, spentMicros: spent, capMicros: line.capMicros, refused: true });
    } catch {
      this.refusalNoticed.delete(key); // the refusal stands; the notice is tried again on the next one
    }
  }

  // `spent` is what the settle's own UPDATE … RETURNING saw, so no second read; with
  // several instances the last settler of a budget sees its final spend, and the
  // notification claim keeps each alert to one per period.
  private async checkThresholds(lines: BudgetLine[], spent: Map<string, number>): Promise<void> {
    for (const line of lines) {
      const s = spent.get(line.key);
      if (s === undefined || line.capMicros <= 0) continue;
      for (const threshold of [1, 0.8] as const) {
        if (s >= line.capMicros * threshold && (await this.budgets.claimNotification(budgetNoticeKey(line.key, threshold), this.clock.now()))) {
          this.onThreshold?.({ key: line.key, threshold, spentMicros: s, capMicros: line.capMicros });
        }
      }
    }
  }

  private callFields(c: MeteredCall, costMicros: number, priceVersion: string, source: string): Partial<LedgerRow> {
    return {
      message_id: c.messageId ?? null,
      request_id: c.requestId ?? null,
      model: c.model,
      input_tokens: c.usage.inputTokens,
      output_tokens: c.usage.outputTokens,
      cache_write_5m_tokens: c.usage.cacheWrite5mTokens,
      cache_write_1h_tokens: c.usage.cacheWrite1hTokens,
      cache_read_tokens: c.usage.cacheReadTokens,
      cost_micros: costMicros,
      price_version: priceVersion,
      latency_ms: Math.round(c.latencyMs),
      outcome: c.outcome,
      source,
      batch: c.batch ? 1 : 0,
    };
  }

  private row(r: Reservation, over: Partial<LedgerRow>): LedgerRow {
    return {
      id: r.id,
      message_id: null,
      request_id: null,
      reservation_id: r.id,
      budget_keys: JSON.stringify(r.keys),
      user_id: r.userId,
      feature: r.feature,
      model: r.model,
      input_tokens: 0,
      output_tokens: 0,
      cache_write_5m_tokens: 0,
      cache_write_1h_tokens: 0,
      cache_read_tokens: 0,
      cost_micros: 0,
      reserved_micros: r.reservedMicros,
      price_version: this.safeVersion(r.model),
      latency_ms: 0,
      outcome: 'pending',
      source: 'llm',
      status: 'pending',
      batch: 0,
      day: isoDay(r.createdAt),
      created_at: r.createdAt,
      settled_at: null,
      ...over,
    };
  }

  private safeVersion(model: string): string {
    try {
      const p = this.prices.priceAt(model, this.clock.now());
      return `${p.model}@${p.effective}`;
    } catch {
      return 'none';
    }
  }
}

export function summarize(calls: MeteredCall[], costMicros: number): UsageSummary {
  const s = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: costMicros / 1e6 };
  for (const c of calls) {
    s.inputTokens += c.usage.inputTokens;
    s.outputTokens += c.usage.outputTokens;
    s.cacheReadTokens += c.usage.cacheReadTokens;
    s.cacheWriteTokens += c.usage.cacheWrite5mTokens + c.usage.cacheWrite1hTokens;
  }
  return s;
}
