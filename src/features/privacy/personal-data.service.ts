import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.js';
import type { Store } from '../../platform/db/database.js';
import { AppError, NotFoundError } from '../../platform/errors.js';
import type { Tier } from '../../platform/policy.schema.js';
import { erasedPseudonym, userHash } from '../../platform/pseudonym.js';
import type { CacheManager } from '../cache/cache-manager.js';
import { purgeTags } from '../cache/cache-key.js';
import type { Role, Subscription } from '../identity/identity.types.js';
import type { Mastery } from '../learning-path/learning-path.service.js';
import { CallInFlight, NothingHeld, type ErasureCounts, type PersonalDataRepository } from './personal-data.repository.js';

// How long a client is told to wait while a call of the user is in flight. A call settles
// right after its answer (ADR 0010); one whose settlement failed, or whose process died,
// is settled by the pending reconciler within 15 minutes (main.ts), which the detail says.
export const IN_FLIGHT_RETRY_AFTER_SEC = 5;

export class CallInFlightError extends AppError {
  constructor(pending: number) {
    super(
      'call_in_flight',
      409,
      `The user has ${pending} metered call(s) in flight; their usage settles within seconds (an abandoned call within 15 minutes, by reconciliation). Retry the erasure then.`,
      { pending },
      { 'retry-after': String(IN_FLIGHT_RETRY_AFTER_SEC) },
    );
  }
}

export class CannotEraseSelfError extends AppError {
  constructor() {
    super('cannot_erase_self', 409, 'An admin cannot erase their own data: the erasure would end the very credentials it is made with, and could leave no admin. Ask another admin.');
  }
}

export { erasedPseudonym } from '../../platform/pseudonym.js';


export interface PersonalDataDeps {
  store: Pick<Store, 'transact'>;
  repo: Pick<PersonalDataRepository, 'read' | 'eraseIn'>;
  cache: Pick<CacheManager, 'invalidateTags'>;
  // Per-instance copies of what is erased: the overrides read on premium requests.
  forget: (userId: string) => void;
  tierOf: (subscription: Subscription | undefined) => Tier;
  mastery: (userId: string) => Promise<Mastery>;
  clock: Clock;
  logger: Pick<Logger, 'info' | 'warn'>;
}

export interface ErasureResult extends ErasureCounts {
  userHash: string;
  pseudonym: string;
  /** Cached answers of the user dropped after the commit; null when the purge failed (they expire with their TTL). */
  cacheEntriesPurged: number | null;
}

const ms = (v: number | string | null) => (v === null ? null : Number(v));
const usd = (micros: number | string) => Number(micros) / 1e6;

// Right of access (export) and right to erasure for one user. The HTTP routes and the CLI
// both come through here (ADR 0016).
export class PersonalDataService {
  constructor(private readonly d: PersonalDataDeps) {}

  async export(userId: string) {
    const r = await this.d.repo.read(userId);
    const held = [r.user, r.subscription, r.override, r.state].some(Boolean) || [r.apiKeys, r.sessions, r.evaluations, r.progress, r.recommendations, r.exposures, r.ledger, r.daily, r.budgets, r.notices, r.billing, r.rubrics].some((l) => l.length > 0);
    if (!held) throw new NotFoundError('User');
    const subscription: Subscription | undefined = r.subscription && {
      userId: r.subscription.user_id,
      plan: r.subscription.plan,
      status: r.subscription.status,
      currentPeriodEnd: ms(r.subscription.current_period_end),
      source: r.subscription.source as Subscription['source'],
      lastEventAt: Number(r.subscription.last_event_at),
      updatedAt: Number(r.subscription.updated_at),
    };
    return {
      userId,
      exportedAt: this.d.clock.now(),
      user: r.user ? { id: r.user.id, roles: r.user.roles.split(',').filter(Boolean) as Role[], createdAt: Number(r.user.created_at), disabled: r.user.disabled === 1 } : null,
      tier: this.d.tierOf(subscription),
      subscription: subscription ?? null,
      apiKeys: r.apiKeys.map((k) => ({ id: k.id, prefix: k.prefix, createdAt: Number(k.created_at), lastUsedAt: ms(k.last_used_at), revokedAt: ms(k.revoked_at) })),
      dashboardSessions: r.sessions.map((s) => ({ createdAt: Number(s.created_at), expiresAt: Number(s.expires_at), endedAt: ms(s.ended_at), apiKeyId: s.key_id })),
      overrides: r.override
        ? { limits: r.override.limits_json ? (JSON.parse(r.override.limits_json) as Record<string, number>) : null, monthlyUsd: r.override.monthly_budget_micros === null ? null : usd(r.override.monthly_budget_micros) }
        : null,
      budgets: r.budgets.map((b) => ({ period: b.key.slice(b.key.lastIndexOf(':') + 1), spentUsd: usd(b.spent_micros), reservedUsd: usd(b.reserved_micros) })),
      // Keys `budget:user:ID:YYYY-MM:THRESHOLD` (budget-policy.ts); user ids hold no ':'.
      budgetNotices: r.notices.map((n) => {
        const [period, threshold] = n.key.split(':').slice(-2);
        return { period: period!, threshold: Number(threshold), sentAt: Number(n.sent_at) };
      }),
      evaluations: r.evaluations.map((e) => ({
        id: e.id,
        rubric: { id: e.rubric_id, version: Number(e.rubric_version) },
        question: e.question,
        answer: e.answer,
        grade: JSON.parse(e.result_json) as Record<string, unknown>,
        reviewStatus: e.review_status,
        override: e.override_json ? (JSON.parse(e.override_json) as Record<string, unknown>) : null,
        reviewedAt: ms(e.reviewed_at),
        createdAt: Number(e.created_at),
      })),
      progressEvents: r.progress.map((p) => ({ eventId: p.event_id, itemId: p.item_id, correct: Number(p.correct) === 1, at: Number(p.at), receivedAt: Number(p.received_at) })),
      learnerState: r.state
        ? {
            state: JSON.parse(r.state.state_json) as Record<string, unknown>,
            lastEventAt: Number(r.state.last_event_at),
            events: Number(r.state.events),
            updatedAt: Number(r.state.updated_at),
            // What the attempts deleted by retention taught (ADR 0017): held about the learner, so exported.
            baseline: r.state.base_json === null ? null : { state: JSON.parse(r.state.base_json) as Record<string, unknown>, events: Number(r.state.base_events), lastEventAt: Number(r.state.base_last_at) },
          }
        : null,
      mastery: r.state ? await this.d.mastery(userId) : null,
      recommendations: r.recommendations.map((x) => ({ id: x.id, experiment: x.experiment, variant: x.variant, source: x.source, itemIds: JSON.parse(x.item_ids) as string[], at: Number(x.at) })),
      exposures: r.exposures.map((x) => ({ experiment: x.experiment, variant: x.variant, firstAt: Number(x.first_at), exposures: Number(x.exposures) })),
      usage: {
        ledger: r.ledger.map((l) => ({
          id: l.id,
          feature: l.feature,
          model: l.model,
          inputTokens: Number(l.input_tokens),
          outputTokens: Number(l.output_tokens),
          cacheWriteTokens: Number(l.cache_write_5m_tokens) + Number(l.cache_write_1h_tokens),
          cacheReadTokens: Number(l.cache_read_tokens),
          costUsd: usd(l.cost_micros),
          outcome: l.outcome,
          source: l.source,
          status: l.status,
          day: l.day,
          createdAt: Number(l.created_at),
          settledAt: ms(l.settled_at),
        })),
        daily: r.daily.map((d) => ({
          day: d.day,
          feature: d.feature,
          model: d.model,
          calls: Number(d.calls),
          inputTokens: Number(d.input_tokens),
          outputTokens: Number(d.output_tokens),
          cacheWriteTokens: Number(d.cache_write_tokens),
          cacheReadTokens: Number(d.cache_read_tokens),
          costUsd: usd(d.cost_micros),
        })),
      },
      billingEvents: r.billing.map((b) => ({ eventId: b.event_id, type: b.type, occurredAt: Number(b.occurred_at), receivedAt: Number(b.received_at) })),
      rubricsOwned: r.rubrics.map((x) => ({ id: x.id, version: Number(x.version), createdAt: Number(x.created_at) })),
    };
  }

  // `actor`: who asks (the admin's user id, or `cli` for an operator at the command line).
  async erase(userId: string, actor: { userId?: string; label: string }): Promise<ErasureResult> {
    if (actor.userId === userId) throw new CannotEraseSelfError();
    const pseudonym = erasedPseudonym(userId);
    let counts: ErasureCounts;
    try {
      counts = await this.d.store.transact(() => this.d.repo.eraseIn(userId, pseudonym));
    } catch (err) {
      if (err instanceof CallInFlight) throw new CallInFlightError(err.pending);
      if (err instanceof NothingHeld) throw new NotFoundError('User');
      throw err;
    }
    // After the commit: an entry dropped before it could be written again from the
    // rows about to go. The API keys went in the transaction; the authentication
    // cache follows it (ADR 0013: the delete moves identity_version on SQLite, and
    // Postgres keeps no cache).
    this.d.forget(userId);
    let cacheEntriesPurged: number | null;
    try {
      cacheEntriesPurged = await this.d.cache.invalidateTags(purgeTags([`user:${userId}`]));
    } catch {
      cacheEntriesPurged = null;
      this.d.logger.warn({ userHash: userHash(userId) }, 'erased user: purging their cached answers failed; they expire with their TTL, or purge the tag user:<id> again');
    }
    const result: ErasureResult = { userHash: userHash(userId), pseudonym, ...counts, cacheEntriesPurged };
    // The hash names the learner in the log; never the id, never an answer.
    this.d.logger.info({ actor: actor.label, userHash: result.userHash, removed: counts.removed, pseudonymised: counts.pseudonymised, cacheEntriesPurged }, 'personal data erased');
    return result;
  }
}
