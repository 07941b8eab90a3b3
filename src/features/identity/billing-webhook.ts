import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Db } from '../../platform/db/database.js';
import { IdentityRepository } from './identity.repository.js';
import { USER_ID_PATTERN, type Subscription, type SubscriptionStatus } from './identity.types.js';

export const TOLERANCE_SEC = 300;

export type SignatureCheck = 'ok' | 'missing' | 'malformed' | 'stale' | 'mismatch';

// Tutorgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">. Several v1
// values may be present while the provider rotates its secret.
export function verifySignature(header: string | undefined, rawBody: Buffer, secret: string, nowMs: number): SignatureCheck {
  if (!header) return 'missing';
  const parts = header.split(',').map((p) => p.trim().split('='));
  const t = parts.find(([k]) => k === 't')?.[1];
  const sigs = parts.filter(([k, v]) => k === 'v1' && v && /^[0-9a-f]{64}$/.test(v)).map(([, v]) => v!);
  if (!t || !/^\d{1,12}$/.test(t) || sigs.length === 0) return 'malformed';
  if (Math.abs(nowMs / 1000 - Number(t)) > TOLERANCE_SEC) return 'stale';
  const expected = Buffer.from(sign(secret, t, rawBody), 'hex');
  return sigs.some((s) => timingSafeEqual(Buffer.from(s, 'hex'), expected)) ? 'ok' : 'mismatch';
}

export function sign(secret: string, t: string, rawBody: Buffer | string): string {
  return createHmac('sha256', secret).update(`${t}.`).update(rawBody).digest('hex');
}

export const billingEventSchema = z
  .strictObject({
    id: z.string().min(1).max(200),
    type: z.enum(['subscription.created', 'subscription.renewed', 'subscription.canceled', 'payment.failed']),
    created: z.int().positive(), // unix seconds at the provider
    data: z.strictObject({
      userId: z.string().regex(USER_ID_PATTERN, 'letters, digits and _ . @ - only, not . or .. alone'),
      plan: z.literal('premium').default('premium'),
      currentPeriodEnd: z.int().positive().optional(), // unix seconds
      status: z.enum(['active', 'trialing']).optional(),
    }),
  })
  // A paid period always ends: without an end, a subscription would stay premium for ever.
  .refine((e) => !PERIOD_STARTS.has(e.type) || e.data.currentPeriodEnd !== undefined, { path: ['data', 'currentPeriodEnd'], message: 'required for subscription.created and subscription.renewed' });

const PERIOD_STARTS = new Set(['subscription.created', 'subscription.renewed']);
export type BillingEvent = z.infer<typeof billingEventSchema>;

const STATUS_FOR: Record<BillingEvent['type'], SubscriptionStatus | null> = {
  'subscription.created': null,
  'subscription.renewed': 'active',
  'subscription.canceled': 'canceled',
  'payment.failed': 'past_due',
};

export type WebhookOutcome = 'applied' | 'duplicate' | 'superseded' | 'ignored';

// A failed payment concerns a subscription that is being paid for: it never creates one
// and never brings a canceled or expired one back (as past_due, premium for the grace).
const PAYING: ReadonlySet<SubscriptionStatus> = new Set(['active', 'trialing', 'past_due']);

// Idempotent by event id and ordered by event time: the event is recorded and applied
// in one transaction, and the subscription row only moves forward in time, so a
// replay changes nothing and a late older event cannot undo a newer one. Two events in
// the same second (the provider's clock has no finer grain) apply in the order they
// arrive: a cancel right after a subscribe, or a resubscribe right after a cancel, holds.
export async function applyBillingEvent(db: Db, event: BillingEvent, now: number): Promise<WebhookOutcome> {
  return db.transaction().execute(async (trx) => {
    const repo = new IdentityRepository(trx);
    const occurredAt = event.created * 1000;
    const fresh = await repo.recordWebhookEvent({ eventId: event.id, type: event.type, userId: event.data.userId, occurredAt, receivedAt: now });
    if (!fresh) return 'duplicate';
    // Locked (Postgres) to the commit: what is written below is computed from it.
    const current = await repo.getSubscriptionForUpdate(event.data.userId);
    // A failed payment moves a paying subscription to past_due but is no barrier in time:
    // the row keeps the time of the event before it. Otherwise a cancel sent just before
    // the failure and delivered after it would be superseded, and the canceled learner
    // would stay premium until the period end and its grace.
    let lastEventAt = occurredAt;
    if (event.type === 'payment.failed') {
      if (!current || !PAYING.has(current.status)) return 'ignored';
      if (occurredAt < current.lastEventAt) return 'superseded';
      lastEventAt = current.lastEventAt;
    }
    // An event that grants nothing (a cancel) for a user who is not here (erased, or never
    // provisioned) creates nobody: a user row holding a canceled subscription under an erased
    // learner's id is personal data the erasure removed. It stays recorded, under no one, so
    // a resend is a duplicate. A subscription that was erased has nothing left to cancel.
    if (!current && !PERIOD_STARTS.has(event.type) && !(await repo.getUser(event.data.userId))) return 'ignored';
    // An event that grants a period (re)creates its user (ADR 0016: erase them at the payment
    // provider too); the event, recorded under no one if the user was not there, is theirs now.
    if (await repo.insertUser({ id: event.data.userId, roles: ['learner'], createdAt: now, disabled: false })) await repo.claimWebhookEvent(event.id, event.data.userId);
    const status = STATUS_FOR[event.type] ?? event.data.status ?? 'active';
    const sub: Subscription = {
      userId: event.data.userId,
      plan: event.data.plan,
      status,
      currentPeriodEnd: event.data.currentPeriodEnd !== undefined ? event.data.currentPeriodEnd * 1000 : (current?.currentPeriodEnd ?? null),
      source: 'billing',
      lastEventAt,
      updatedAt: now,
    };
    return (await repo.putSubscriptionIfNewer(sub)) ? 'applied' : 'superseded';
  });
}
