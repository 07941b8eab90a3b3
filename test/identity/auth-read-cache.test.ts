import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hashApiKey } from '../../src/features/identity/api-key.js';
import { Authenticator } from '../../src/features/identity/authenticator.js';
import { createJwtVerifier } from '../../src/features/identity/jwt-verifier.js';
import { AuthReadCache, identityVersionReader } from '../../src/features/identity/auth-read-cache.js';
import { applyBillingEvent } from '../../src/features/identity/billing-webhook.js';
import { IdentityRepository } from '../../src/features/identity/identity.repository.js';
import { IdentityService } from '../../src/features/identity/identity.service.js';
import { openStore, type Store } from '../../src/platform/db/database.js';
import { migrateUp } from '../../src/platform/db/migrator.js';
import { parsePolicy } from '../../src/platform/policy.js';
import { openTestStore } from '../helpers/databases.js';
import { ManualClock } from '../helpers/test-app.js';

// The serving process remembers authentication reads; everything that changes an identity
// must still be seen by the very next request, whoever writes it (another process's change
// from the next turn of the event loop).
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
describe('authentication reads remembered on SQLite', () => {
  let dir: string;
  let store: Store;
  let other: Store; // a second connection to the same file, as a CLI command in another process has
  let cache: AuthReadCache;
  let repo: IdentityRepository;
  let svc: IdentityService;
  const clock = new ManualClock();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tg-authcache-'));
    store = openStore(`sqlite:${join(dir, 'tg.db')}`);
    await migrateUp(store.db);
    other = openStore(`sqlite:${join(dir, 'tg.db')}`);
    cache = new AuthReadCache(identityVersionReader(store)!);
    repo = new IdentityRepository(store.db, cache);
    svc = new IdentityService(repo, clock);
  });
  afterAll(async () => {
    await other.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function newKey(userId: string) {
    await svc.createUser({ id: userId, roles: ['learner'], tier: 'premium' });
    const { key, id } = await svc.createApiKey(userId);
    return { hash: hashApiKey(key), id };
  }

  it('reads a key once, then answers from memory', async () => {
    const { hash } = await newKey('a');
    const first = await repo.authByKeyHash(hash);
    expect(first).toMatchObject({ key: { userId: 'a', revokedAt: null }, user: { id: 'a' } });
    expect(await repo.authByKeyHash(hash)).toBe(first);
  });

  it('a key revoked through this process is revoked for the next request', async () => {
    const { hash, id } = await newKey('b');
    expect((await repo.authByKeyHash(hash))?.key.revokedAt).toBeNull();
    await svc.revokeApiKey('b', id);
    expect((await repo.authByKeyHash(hash))?.key.revokedAt).toBe(clock.now());
  });

  it('a key revoked, a user disabled or a subscription cancelled by another process is seen from the next turn of the event loop', async () => {
    const { hash, id } = await newKey('c');
    expect(await repo.authByKeyHash(hash)).toMatchObject({ key: { revokedAt: null }, user: { disabled: false }, subscription: { status: 'active' } });
    await new IdentityService(new IdentityRepository(other.db), clock).revokeApiKey('c', id);
    await nextTurn();
    expect((await repo.authByKeyHash(hash))?.key.revokedAt).toBe(clock.now());

    const second = await newKey('d');
    expect((await repo.authByKeyHash(second.hash))?.user?.disabled).toBe(false);
    await other.db.updateTable('users').set({ disabled: 1 }).where('id', '=', 'd').execute();
    await nextTurn();
    expect((await repo.authByKeyHash(second.hash))?.user?.disabled).toBe(true);

    expect((await repo.userWithSubscription('d')).subscription?.status).toBe('active');
    await other.db.updateTable('subscriptions').set({ status: 'canceled' }).where('user_id', '=', 'd').execute();
    await nextTurn();
    expect((await repo.userWithSubscription('d')).subscription?.status).toBe('canceled');
  });

  // The version read is used again within one turn of the event loop (ADR 0013): the
  // requests of a turn had arrived before it began. What this process writes resets it.
  it('within one turn, a change made here is seen by the next lookup, and one by another process from the next turn', async () => {
    const here = await newKey('m');
    const there = await newKey('n');
    await nextTurn();
    expect((await repo.authByKeyHash(here.hash))?.key.revokedAt).toBeNull();
    expect((await repo.authByKeyHash(there.hash))?.key.revokedAt).toBeNull();
    await svc.revokeApiKey('m', here.id); // this process, same turn
    expect((await repo.authByKeyHash(here.hash))?.key.revokedAt).toBe(clock.now());
    expect((await repo.authByKeyHash(there.hash))?.key.revokedAt).toBeNull(); // remembered again
    await new IdentityService(new IdentityRepository(other.db), clock).revokeApiKey('n', there.id); // another process, same turn
    // The turn's version read stands: this lookup belongs with the requests that arrived before the change.
    expect((await repo.authByKeyHash(there.hash))?.key.revokedAt).toBeNull();
    await nextTurn();
    expect((await repo.authByKeyHash(there.hash))?.key.revokedAt).toBe(clock.now());
  });

  it('a billing webhook, applied in its own transaction, changes the next read', async () => {
    expect((await repo.userWithSubscription('e')).user).toBeUndefined();
    const created = Math.floor(clock.now() / 1000);
    await applyBillingEvent(store.db, { id: 'evt_e1', type: 'subscription.created', created, data: { userId: 'e', plan: 'premium' } }, clock.now());
    const upgraded = await repo.userWithSubscription('e');
    expect(upgraded.subscription?.status).toBe('active');
    expect(await repo.userWithSubscription('e')).toBe(upgraded);
    await applyBillingEvent(store.db, { id: 'evt_e2', type: 'subscription.canceled', created: created + 1, data: { userId: 'e', plan: 'premium' } }, clock.now());
    expect((await repo.userWithSubscription('e')).subscription?.status).toBe('canceled');
  });

  it('trusts no version read inside a transaction: one rolled back cannot hide a later change', async () => {
    const { hash, id } = await newKey('h');
    expect((await repo.authByKeyHash(hash))?.key.revokedAt).toBeNull();
    let fail!: () => void;
    const held = new Promise<void>((_, reject) => (fail = () => reject(new Error('rolled back'))));
    let changed!: () => void;
    const inside = new Promise<void>((r) => (changed = r));
    // A transaction on the serving connection changes an identity (moving the version),
    // then waits; a request arrives meanwhile; then the transaction rolls back.
    const tx = store.db.transaction().execute(async (trx) => {
      await trx.updateTable('users').set({ roles: 'learner,admin' }).where('id', '=', 'h').execute();
      changed();
      await held;
    });
    await inside;
    const during = repo.authByKeyHash(hash);
    fail();
    await expect(tx).rejects.toThrow('rolled back');
    expect((await during)?.key.revokedAt).toBeNull();
    // The version is back where it was; another process's change moves it to the very
    // number seen inside the transaction.
    await new IdentityService(new IdentityRepository(other.db), clock).revokeApiKey('h', id);
    await nextTurn();
    expect((await repo.authByKeyHash(hash))?.key.revokedAt).toBe(clock.now());
  });

  it('a sign-up or a new key leaves what is remembered in place, in this process or another', async () => {
    const { hash } = await newKey('j');
    await svc.createUser({ id: 'j-friend', roles: ['learner'], tier: 'premium' });
    const before = await repo.authByKeyHash(hash);
    const friend = await repo.userWithSubscription('j-friend');
    await svc.createUser({ id: 'j-new', roles: ['learner'], tier: 'free' }); // a JWT learner's first sight is this insert
    await svc.createApiKey('j-new');
    await new IdentityService(new IdentityRepository(other.db), clock).createUser({ id: 'j-cli', roles: ['learner'], tier: 'free' });
    await new IdentityService(new IdentityRepository(other.db), clock).createApiKey('j-cli');
    expect(await repo.authByKeyHash(hash)).toBe(before);
    expect(await repo.userWithSubscription('j-friend')).toBe(friend);
  });

  it('a first subscription for a remembered user is seen at once', async () => {
    await svc.createUser({ id: 'k', roles: ['learner'], tier: 'free' });
    expect((await repo.userWithSubscription('k')).subscription).toBeUndefined();
    await other.db
      .insertInto('subscriptions')
      .values({ user_id: 'k', plan: 'premium', status: 'active', current_period_end: null, source: 'admin', last_event_at: clock.now(), updated_at: clock.now() })
      .execute();
    await nextTurn();
    expect((await repo.userWithSubscription('k')).subscription?.status).toBe('active');
  });

  it('recording when a key was last used changes nobody: the remembered read stays', async () => {
    const { hash, id } = await newKey('f');
    const before = await repo.authByKeyHash(hash);
    await repo.touchApiKey(id, clock.now() + 1);
    expect(await repo.authByKeyHash(hash)).toBe(before);
  });

  it('a remembered key is still marked used about once a minute, not on every request', async () => {
    await svc.createUser({ id: 'g', roles: ['learner'], tier: 'premium' });
    const { key } = await svc.createApiKey('g');
    const auth = new Authenticator(repo, createJwtVerifier({ secret: 'x'.repeat(32) }), parsePolicy({}), clock);
    const touch = vi.spyOn(repo, 'touchApiKey');
    for (let i = 0; i < 3; i++) await auth.authenticate(`Bearer ${key}`);
    clock.advance(61_000);
    for (let i = 0; i < 3; i++) await auth.authenticate(`Bearer ${key}`);
    expect(touch).toHaveBeenCalledTimes(2);
    touch.mockRestore();
  });

  it('remembers nothing for a key that does not exist', async () => {
    const size = cache.size;
    expect(await repo.authByKeyHash(hashApiKey('tg_nosuchkey_0000000000000000000000000000000000'))).toBeUndefined();
    expect(cache.size).toBe(size);
  });
});

describe('AuthReadCache', () => {
  it('does not remember a read that was in flight while the version moved', async () => {
    let version = 1;
    const cache = new AuthReadCache(() => version);
    let finish!: (v: { n: number }) => void;
    const slow = cache.get('k', () => new Promise<{ n: number }>((r) => (finish = r)));
    version = 2;
    await cache.get('other', async () => ({ n: 0 })); // the next request sees the change
    finish({ n: 1 }); // the slow read may hold rows from before it
    expect(await slow).toEqual({ n: 1 });
    let reads = 0;
    await cache.get('k', async () => ({ n: ++reads }));
    expect(reads).toBe(1);
  });

  it('is not used on Postgres: the store offers no synchronous read', async () => {
    const ts = await openTestStore('postgres');
    try {
      expect(identityVersionReader(ts.store)).toBeUndefined();
      expect(await ts.store.db.introspection.getTables()).not.toContainEqual(expect.objectContaining({ name: 'identity_version' }));
    } finally {
      await ts.cleanup();
    }
  });
});
