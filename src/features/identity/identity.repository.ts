import { PostgresAdapter, sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import { statement } from '../../platform/db/statement.js';
import { userIdWhileStands } from '../../platform/db/while-user-stands.js';
import type { AuthReadCache } from './auth-read-cache.js';
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

const USER_COLUMNS = ['u.id as u_id', 'u.roles as u_roles', 'u.created_at as u_created_at', 'u.disabled as u_disabled'] as const;
const SUBSCRIPTION_COLUMNS = [
  's.user_id as s_user_id', 's.plan as s_plan', 's.status as s_status', 's.current_period_end as s_current_period_end',
  's.source as s_source', 's.last_event_at as s_last_event_at', 's.updated_at as s_updated_at',
] as const;
const KEY_COLUMNS = ['k.id as k_id', 'k.user_id as k_user_id', 'k.prefix as k_prefix', 'k.created_at as k_created_at', 'k.last_used_at as k_last_used_at', 'k.revoked_at as k_revoked_at'] as const;

export interface UserWithSubscription {
  user: User | undefined;
  subscription: Subscription | undefined;
}

export interface KeyWithOwner extends UserWithSubscription {
  key: ApiKeyRecord;
}

export class IdentityRepository {
  // Authentication reads the key, its user and the subscription in one statement on
  // every request, compiled once (see statement.ts).
  private readonly authByHash;
  private readonly userById;

  // With a cache (SQLite), the two authentication reads are remembered while no identity
  // changes (auth-read-cache.ts); without one, every call reads the database.
  constructor(
    private readonly db: Db,
    private readonly cache?: AuthReadCache,
  ) {
    this.authByHash = statement(db, (p) =>
      db
        .selectFrom('api_keys as k')
        .leftJoin('users as u', 'u.id', 'k.user_id')
        .leftJoin('subscriptions as s', 's.user_id', 'k.user_id')
        .select([...KEY_COLUMNS, ...USER_COLUMNS, ...SUBSCRIPTION_COLUMNS])
        .where('k.hash', '=', p.hash),
    );
    this.userById = statement(db, (p) =>
      db
        .selectFrom('users as u')
        .leftJoin('subscriptions as s', 's.user_id', 'u.id')
        .select([...USER_COLUMNS, ...SUBSCRIPTION_COLUMNS])
        .where('u.id', '=', p.id),
    );
  }

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
    return r && toSubscription(r);
  }

  // The billing webhook's read of the row it is about to write, inside its transaction: on
  // Postgres locked until the commit, so another instance's event, or an admin's change, made
  // in between cannot be written over with what this one read (a renewal's period end lost
  // under a cancel). SQLite runs the webhook's transaction alone on its connection.
  async getSubscriptionForUpdate(userId: string): Promise<Subscription | undefined> {
    const q = this.db.selectFrom('subscriptions').selectAll().where('user_id', '=', userId);
    const r = await (this.db.getExecutor().adapter instanceof PostgresAdapter ? q.forUpdate() : q).executeTakeFirst();
    return r && toSubscription(r);
  }

  // An admin's extension, in one statement: the period moves on from its end as it stands
  // (or from now, if it has passed), so two extensions at once both count. `undefined` when
  // nothing was changed: no subscription, or the end would pass `lastPeriodEnd` (the caller
  // tells which). A subscription without an end stays without one.
  async extendSubscription(userId: string, byMs: number, now: number, lastPeriodEnd: number): Promise<Subscription | undefined> {
    const end = sql<number>`(case when current_period_end > ${now} then current_period_end else ${now} end) + ${byMs}`;
    const r = await this.db
      .updateTable('subscriptions')
      .set({ status: 'active', current_period_end: sql`case when current_period_end is null then null else ${end} end`, last_event_at: now, updated_at: now })
      .where('user_id', '=', userId)
      .where((eb) => eb.or([eb('current_period_end', 'is', null), eb(end, '<=', lastPeriodEnd)]))
      .returningAll()
      .executeTakeFirst();
    return r && toSubscription(r);
  }

  // An admin's cancel, in one statement: the status alone, the period end as it stands.
  async cancelSubscription(userId: string, now: number): Promise<Subscription | undefined> {
    const r = await this.db.updateTable('subscriptions').set({ status: 'canceled', last_event_at: now, updated_at: now }).where('user_id', '=', userId).returningAll().executeTakeFirst();
    return r && toSubscription(r);
  }

  async putSubscription(s: Subscription): Promise<void> {
    const row = subscriptionRow(s);
    await this.db
      .insertInto('subscriptions')
      .values(row)
      .onConflict((oc) => oc.column('user_id').doUpdateSet(row))
      .execute();
  }

  // Applies a billing event unless the last one applied is newer, in one statement, so two
  // instances racing on out-of-order events cannot regress the state. An event of the
  // same time applies (the later arrival wins: replays never get here, the event id
  // already refused them).
  async putSubscriptionIfNewer(s: Subscription): Promise<boolean> {
    const row = subscriptionRow(s);
    const res = await this.db
      .insertInto('subscriptions')
      .values(row)
      .onConflict((oc) =>
        oc.column('user_id').doUpdateSet(row).where('subscriptions.last_event_at', '<=', s.lastEventAt),
      )
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async authByKeyHash(hash: string): Promise<KeyWithOwner | undefined> {
    return this.remembered(`key:${hash}`, async () => {
      const [r] = (await this.db.executeQuery(this.authByHash.bind({ hash }))).rows;
      if (!r) return undefined;
      return {
        key: toKey({ id: r.k_id, user_id: r.k_user_id, prefix: r.k_prefix, created_at: r.k_created_at, last_used_at: r.k_last_used_at, revoked_at: r.k_revoked_at }),
        ...joined(r),
      };
    });
  }

  async userWithSubscription(id: string): Promise<UserWithSubscription> {
    const found = await this.remembered(`user:${id}`, async () => {
      const [r] = (await this.db.executeQuery(this.userById.bind({ id }))).rows;
      return r ? joined(r) : undefined;
    });
    return found ?? { user: undefined, subscription: undefined };
  }

  private remembered<V extends object>(key: string, read: () => Promise<V | undefined>): Promise<V | undefined> {
    return this.cache ? this.cache.get(key, read) : read();
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
  // The event names its user only while the user's row stands (while-user-stands.ts): one
  // for a user erased before it, or while it was on its way, is kept (its id makes a resend a
  // duplicate) under no one. On Postgres the user's row stays key-share locked to the
  // commit, so an erasure waits for this event and then pseudonymises it with the rest.
  async recordWebhookEvent(e: { eventId: string; type: string; userId: string | null; occurredAt: number; receivedAt: number }): Promise<boolean> {
    const res = await this.db
      .insertInto('webhook_events')
      .values({ event_id: e.eventId, type: e.type, user_id: e.userId === null ? null : userIdWhileStands(this.db, e.userId), occurred_at: e.occurredAt, received_at: e.receivedAt })
      .onConflict((oc) => oc.column('event_id').doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  // An event recorded under no one whose user it has (re)created since, in its transaction.
  async claimWebhookEvent(eventId: string, userId: string): Promise<void> {
    await this.db.updateTable('webhook_events').set({ user_id: userId }).where('event_id', '=', eventId).where('user_id', 'is', null).execute();
  }
}

interface JoinedRow {
  u_id: string | null;
  u_roles: string | null;
  u_created_at: number | null;
  u_disabled: number | null;
  s_user_id: string | null;
  s_plan: string | null;
  s_status: string | null;
  s_current_period_end: number | null;
  s_source: string | null;
  s_last_event_at: number | null;
  s_updated_at: number | null;
}

function joined(r: JoinedRow): UserWithSubscription {
  return {
    user: r.u_id === null ? undefined : toUser({ id: r.u_id, roles: r.u_roles!, created_at: r.u_created_at!, disabled: r.u_disabled! }),
    subscription:
      r.s_user_id === null
        ? undefined
        : toSubscription({ user_id: r.s_user_id, plan: r.s_plan!, status: r.s_status!, current_period_end: r.s_current_period_end, source: r.s_source!, last_event_at: r.s_last_event_at!, updated_at: r.s_updated_at! }),
  };
}

function toSubscription(r: { user_id: string; plan: string; status: string; current_period_end: number | null; source: string; last_event_at: number; updated_at: number }): Subscription {
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
