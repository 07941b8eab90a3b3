import type { Clock } from '../../platform/clock.js';
import type { Policy } from '../../platform/policy.js';
import { entitlementsFor } from './access.js';
import { hashApiKey, looksLikeApiKey } from './api-key.js';
import { effectiveTier, subscriptionGraceMs, subscriptionView } from './effective-tier.js';
import type { IdentityRepository } from './identity.repository.js';
import type { Principal, Subscription, User } from './identity.types.js';
import { SigningKeysUnavailableError, type JwtVerifier } from './jwt-verifier.js';

export type AuthFailure = 'missing' | 'malformed' | 'unknown_key' | 'revoked_key' | 'invalid_token' | 'unknown_user' | 'disabled_user';

export class AuthenticationFailed extends Error {
  constructor(readonly reason: AuthFailure) {
    super(reason);
  }
}

type Repo = Pick<IdentityRepository, 'authByKeyHash' | 'touchApiKey' | 'userWithSubscription'>;

// last_used_at is informational; writing it on every request would turn every read
// into a write, so it is refreshed at most once a minute per key.
const TOUCH_EVERY_MS = 60_000;

export class Authenticator {
  private readonly graceMs: number;

  constructor(
    private readonly repo: Repo,
    private readonly jwt: JwtVerifier,
    private readonly policy: Policy,
    private readonly clock: Clock,
    // Users who arrive with a valid JWT from the platform's identity provider are
    // provisioned as free learners on first sight (sign-up happens upstream).
    private readonly provisionJwtUser?: (userId: string) => Promise<void>,
  ) {
    this.graceMs = subscriptionGraceMs(policy);
  }

  async authenticate(authorization: string | undefined): Promise<Principal> {
    if (!authorization) throw new AuthenticationFailed('missing');
    // The scheme is case-insensitive (RFC 9110 §11.1); the token is not (the flag changes
    // nothing in a class that holds both cases).
    const m = /^Bearer ([\x21-\x7e]{1,4096})$/i.exec(authorization);
    if (!m) throw new AuthenticationFailed('malformed');
    const token = m[1]!;
    if (looksLikeApiKey(token)) {
      const found = await this.repo.authByKeyHash(hashApiKey(token));
      if (!found) throw new AuthenticationFailed('unknown_key');
      const { key } = found;
      if (key.revokedAt !== null) throw new AuthenticationFailed('revoked_key');
      const now = this.clock.now();
      if (key.lastUsedAt === null || now - key.lastUsedAt > TOUCH_EVERY_MS) {
        await this.repo.touchApiKey(key.id, now);
        // The record may be the one the repository remembers (auth-read-cache.ts), which a
        // touch does not empty: it now says what the database says.
        key.lastUsedAt = now;
      }
      return this.toPrincipal(key.userId, found.user, found.subscription, 'api_key', key.id);
    }
    let sub: string;
    try {
      sub = (await this.jwt.verify(token)).sub;
    } catch (err) {
      if (err instanceof SigningKeysUnavailableError) throw err; // 503: not a failed credential
      throw new AuthenticationFailed('invalid_token');
    }
    try {
      return await this.principalFor(sub, 'jwt');
    } catch (err) {
      if (!(err instanceof AuthenticationFailed && err.reason === 'unknown_user' && this.provisionJwtUser)) throw err;
      await this.provisionJwtUser(sub);
      return this.principalFor(sub, 'jwt');
    }
  }

  async principalFor(userId: string, via: Principal['via'], keyId?: string): Promise<Principal> {
    const { user, subscription } = await this.repo.userWithSubscription(userId);
    return this.toPrincipal(userId, user, subscription, via, keyId);
  }

  private toPrincipal(userId: string, user: User | undefined, subscription: Subscription | undefined, via: Principal['via'], keyId?: string): Principal {
    if (!user) throw new AuthenticationFailed('unknown_user');
    if (user.disabled) throw new AuthenticationFailed('disabled_user');
    const now = this.clock.now();
    const tier = effectiveTier(subscription, now, this.graceMs);
    return { userId, roles: user.roles, tier, entitlements: entitlementsFor(this.policy, tier), via, ...(keyId ? { keyId } : {}), subscription: subscriptionView(subscription, now, this.graceMs) };
  }
}
