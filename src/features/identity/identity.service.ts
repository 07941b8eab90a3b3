import type { Clock } from '../../platform/clock.js';
import { AppError, ConflictError, NotFoundError, ValidationError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { Tier } from '../../platform/policy.schema.js';
import { displayPrefix, generateApiKey, hashApiKey } from './api-key.js';
import { hasPermission } from './access.js';
import type { IdentityRepository } from './identity.repository.js';
import { USER_ID_PATTERN, type Role, type Subscription, type SubscriptionStatus, type User } from './identity.types.js';

// The latest period end a grant can name (its `until` is an ISO date with a 4-digit year).
// An extension may not go past it either: a larger end overflows Postgres's bigint (a 500)
// and is stored as a float on SQLite.
const LAST_PERIOD_END = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export class CannotLockOutSelfError extends AppError {
  constructor() {
    super('cannot_lock_out_self', 409, 'You cannot take away your own right to manage users (by your roles or by disabling yourself): nobody might be left to give it back. Ask another admin.');
  }
}

export class IdentityService {
  constructor(
    private readonly repo: IdentityRepository,
    private readonly clock: Clock,
  ) {}

  async createUser(input: { id: string; roles: Role[]; tier: Tier }): Promise<User> {
    // Here and not only in the admin route's schema: the CLI creates users too, and a user
    // the admin API cannot address (empty, padded, too long) can never be managed again.
    if (!USER_ID_PATTERN.test(input.id)) {
      throw new ValidationError(`User id ${JSON.stringify(input.id.length > 40 ? `${input.id.slice(0, 40)}…` : input.id)} is not 1-200 letters, digits and _ . @ - (and not . or .. alone).`, [{ path: 'id', message: 'letters, digits and _ . @ - only, not . or .. alone' }]);
    }
    const user: User = { id: input.id, roles: input.roles, createdAt: this.clock.now(), disabled: false };
    if (!(await this.repo.insertUser(user))) throw new ConflictError(`User "${input.id}" already exists.`);
    if (input.tier === 'premium') await this.grant(input.id, { until: null });
    return user;
  }

  // Users who arrive with a valid JWT from the platform's identity provider are
  // provisioned as free learners on first sight (sign-up happens upstream).
  async ensureUser(id: string): Promise<void> {
    await this.repo.insertUser({ id, roles: ['learner'], createdAt: this.clock.now(), disabled: false });
  }

  async getUser(id: string): Promise<User> {
    const user = await this.repo.getUser(id);
    if (!user) throw new NotFoundError('User');
    return user;
  }

  async createApiKey(userId: string): Promise<{ id: string; key: string; prefix: string }> {
    await this.getUser(userId);
    const key = generateApiKey();
    const id = newId('key');
    await this.repo.insertApiKey({ id, userId, prefix: displayPrefix(key), hash: hashApiKey(key), createdAt: this.clock.now() });
    return { id, key, prefix: displayPrefix(key) };
  }

  async revokeApiKey(userId: string, keyId: string): Promise<void> {
    if (!(await this.repo.revokeApiKey(userId, keyId, this.clock.now()))) throw new NotFoundError('API key');
  }

  async subscription(userId: string): Promise<Subscription | null> {
    await this.getUser(userId);
    return (await this.repo.getSubscription(userId)) ?? null;
  }

  // Admin grant: premium until a date, or with no end.
  async grant(userId: string, opts: { until: number | null; status?: SubscriptionStatus }): Promise<Subscription> {
    await this.getUser(userId);
    const now = this.clock.now();
    const sub: Subscription = {
      userId,
      plan: 'premium',
      status: opts.status ?? 'active',
      currentPeriodEnd: opts.until,
      source: 'admin',
      lastEventAt: now,
      updatedAt: now,
    };
    try {
      await this.repo.putSubscription(sub);
    } catch (err) {
      // The user was erased between the check above and the write (the subscription's
      // foreign key refused it): the same 404 as a user who was never there, not a 500.
      if (!(await this.repo.getUser(userId))) throw new NotFoundError('User');
      throw err;
    }
    return sub;
  }

  // One statement each (the repository's): a read of the row and a write of it whole lost
  // one of two changes made at once (two 30-day extensions gave 30 days, a cancel undid an
  // extension), on one instance or two.
  async extend(userId: string, byMs: number): Promise<Subscription> {
    // A step longer than any period could take is sent as one just too long (the same
    // answer, and no value past a bigint, which Postgres would refuse with a 500).
    const sub = await this.repo.extendSubscription(userId, Math.min(byMs, LAST_PERIOD_END + 1), this.clock.now(), LAST_PERIOD_END);
    if (sub) return sub;
    if (!(await this.repo.getSubscription(userId))) throw new NotFoundError('Subscription');
    throw new ValidationError('by: the period would end after the year 9999.', [{ path: 'by', message: 'the period would end after the year 9999' }]);
  }

  async cancel(userId: string): Promise<Subscription> {
    const sub = await this.repo.cancelSubscription(userId, this.clock.now());
    if (!sub) throw new NotFoundError('Subscription');
    return sub;
  }

  /**
   * A user manager's change to a user's roles or state, both in one statement. Not to the
   * manager themselves where it would end their own right to manage users: the last admin
   * who demoted or disabled themselves left nobody able to undo it through the API.
   */
  async changeUser(actorId: string, userId: string, change: { roles?: Role[] | undefined; disabled?: boolean | undefined }): Promise<User> {
    if (actorId === userId && ((change.roles && !hasPermission(change.roles, 'users:manage')) || change.disabled === true)) throw new CannotLockOutSelfError();
    const patch = { ...(change.roles ? { roles: change.roles } : {}), ...(change.disabled !== undefined ? { disabled: change.disabled } : {}) };
    if (!(await this.repo.updateUser(userId, patch))) throw new NotFoundError('User');
    return this.getUser(userId);
  }

  listUsers(limit: number, after?: string): Promise<User[]> {
    return this.repo.listUsers(limit, after);
  }

  listApiKeys(userId: string) {
    return this.repo.listApiKeys(userId);
  }
}
