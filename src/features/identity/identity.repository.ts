import type { Db } from '../../platform/db/database.js';
import type { Role, Subscription, SubscriptionStatus, User } from './identity.types.js';

export interface ApiKeyRecord {
  id: string;
  userId: string;
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

const toUser = (r: { id: string; roles: string; created_at: number; disabled: number }): User => ({
  id: r.id,
  roles: r.roles.split(',').filter(Boolean) as Role[],
  createdAt: Number(r.created_at),
  disabled: r.disabled === 1,
});

export class IdentityRepository {
  constructor(private readonly db: Db) {}

  async insertUser(user: User): Promise<boolean> {
    const res = await this.db
      .insertInto('users')
      .values({ id: user.id, roles: user.roles.join(','), created_at: user.createdAt, disabled: user.disabled ? 1 : 0 })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async getUser(id: string): Promise<User | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toUser(r);
  }

  async listUsers(limit: number, after?: string): Promise<User[]> {
    let q = this.db.selectFrom('users').selectAll().orderBy('id').limit(limit);
    if (after) q = q.where('id', '>', after);
    return (await q.execute()).map(toUser);
  }

  async updateUser(id: string, patch: { roles?: Role[]; disabled?: boolean }): Promise<boolean> {
    const res = await this.db
      .updateTable('users')
      .set({
        ...(patch.roles ? { roles: patch.roles.join(',') } : {}),
        ...(patch.disabled !== undefined ? { disabled: patch.disabled ? 1 : 0 } : {}),
      })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async getSubscription(userId: string): Promise<Subscription | undefined> {
    const r = await this.db.selectFrom('subscriptions').selectAll().where('user_id', '=', userId).executeTakeFirst();
    if (!r) return undefined;
    return {
      userId: r.user_id,
      plan: r.plan,
      status: r.status as SubscriptionStatus,
      currentPeriodEnd: r.current_period_end === null ? null : Number(r.current_period_end),
      source: r.source as Subscription['source'],
      lastEventAt: Number(r.last_event_at),
      updatedAt: Number(r.updated_at),
    };
  }

  async putSubscription(s: Subscription): Promise<void> {
    const row = subscriptionRow(s);
    await this.db
      .insertInto('subscriptions')
      .values(row)
      .onConflict((oc) => oc.column('user_id').doUpdateSet(row))
      .execute();
  }

  // Applies a billing event only if it is newer than the last one applied, in one
  // statement, so two instances racing on out-of-order events cannot regress the state.
  async putSubscriptionIfNewer(s: Subscription): Promise<boolean> {
    const row = subscriptionRow(s);
    const res = await this.db
      .insertInto('subscriptions')
      .values(row)
      .onConflict((oc) =>
        oc.column('user_id').doUpdateSet(row).where('subscriptions.last_event_at', '<', s.lastEventAt),
      )
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async insertApiKey(k: { id: string; userId: string; prefix: string; hash: string; createdAt: number }): Promise<void> {
    await this.db
      .insertInto('api_keys')
      .values({ id: k.id, user_id: k.userId, prefix: k.prefix, hash: k.hash, created_at: k.createdAt, last_used_at: null, revoked_at: null })
      .execute();
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const r = await this.db.selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
    return r && toKey(r);
  }

  async listApiKeys(userId: string): Promise<ApiKeyRecord[]> {
    const rows = await this.db.selectFrom('api_keys').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
    return rows.map(toKey);
  }

  async revokeApiKey(userId: string, keyId: string, at: number): Promise<boolean> {
    const res = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: at })
      .where('id', '=', keyId)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async touchApiKey(keyId: string, at: number): Promise<void> {
    await this.db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', keyId).execute();
  }

  // True when the event id is new; the unique key makes replays a no-op across instances.
  async recordWebhookEvent(e: { eventId: string; type: string; userId: string | null; occurredAt: number; receivedAt: number }): Promise<boolean> {
    const res = await this.db
      .insertInto('webhook_events')
      .values({ event_id: e.eventId, type: e.type, user_id: e.userId, occurred_at: e.occurredAt, received_at: e.receivedAt })
      .onConflict((oc) => oc.column('event_id').doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  }
}

function subscriptionRow(s: Subscription) {
  return {
    user_id: s.userId,
    plan: s.plan,
    status: s.status,
    current_period_end: s.currentPeriodEnd,
    source: s.source,
    last_event_at: s.lastEventAt,
    updated_at: s.updatedAt,
  };
}

function toKey(r: { id: string; user_id: string; prefix: string; created_at: number; last_used_at: number | null; revoked_at: number | null }): ApiKeyRecord {
  return {
    id: r.id,
    userId: r.user_id,
    prefix: r.prefix,
    createdAt: Number(r.created_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}
