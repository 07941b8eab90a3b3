import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyBillingEvent } from '../../src/features/identity/billing-webhook.js';
import { IdentityRepository } from '../../src/features/identity/identity.repository.js';
import { hashApiKey } from '../../src/features/identity/api-key.js';
import { IdentityService } from '../../src/features/identity/identity.service.js';
import { openTestStore, STORE_KINDS, type TestStore } from '../helpers/databases.js';
import { ManualClock } from '../helpers/test-app.js';

describe.each(STORE_KINDS)('identity repository on %s', (kind) => {
  let ts: TestStore;
  let repo: IdentityRepository;
  let svc: IdentityService;
  const clock = new ManualClock();
  beforeAll(async () => {
    ts = await openTestStore(kind);
    repo = new IdentityRepository(ts.store.db);
    svc = new IdentityService(repo, clock);
  });
  afterAll(() => ts.cleanup());

  it('creates users once and reads them back', async () => {
    await svc.createUser({ id: 'u1', roles: ['learner', 'instructor'], tier: 'free' });
    await expect(svc.createUser({ id: 'u1', roles: ['learner'], tier: 'free' })).rejects.toThrow(/already exists/);
    expect(await repo.getUser('u1')).toMatchObject({ id: 'u1', roles: ['learner', 'instructor'], disabled: false });
  });

  it('stores API keys hashed, finds them by hash, revokes them', async () => {
    const { key, id } = await svc.createApiKey('u1');
    expect(key).toMatch(/^tg_[A-Za-z0-9_-]{40,}$/);
    const found = await repo.findApiKeyByHash(hashApiKey(key));
    expect(found).toMatchObject({ id, userId: 'u1', revokedAt: null });
    const rows = await ts.store.db.selectFrom('api_keys').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(key);
    await svc.revokeApiKey('u1', id);
    expect((await repo.findApiKeyByHash(hashApiKey(key)))?.revokedAt).toBe(clock.now());
    await expect(svc.revokeApiKey('u1', id)).rejects.toThrow(/not found/);
  });

  it('applies billing events once and only forward in time, even when racing', async () => {
    const ev = (id: string, type: 'subscription.created' | 'subscription.canceled' | 'subscription.renewed', created: number) => ({
      id, type, created, data: { userId: 'payer', plan: 'premium' as const, currentPeriodEnd: created + 30 * 86400 },
    });
    expect(await applyBillingEvent(ts.store.db, ev('e1', 'subscription.created', 1_000_000), clock.now())).toBe('applied');
    expect(await applyBillingEvent(ts.store.db, ev('e1', 'subscription.created', 1_000_000), clock.now())).toBe('duplicate');
    expect(await applyBillingEvent(ts.store.db, ev('e3', 'subscription.canceled', 1_000_200), clock.now())).toBe('applied');
    // The renewal was sent before the cancel but arrives after it: it must not revive the subscription.
    expect(await applyBillingEvent(ts.store.db, ev('e2', 'subscription.renewed', 1_000_100), clock.now())).toBe('superseded');
    expect((await repo.getSubscription('payer'))?.status).toBe('canceled');

    const racers = Array.from({ length: 20 }, (_, i) => ev(`r${i}`, i % 2 ? 'subscription.canceled' : 'subscription.renewed', 2_000_000 + i));
    await Promise.all(racers.map((e) => applyBillingEvent(ts.store.db, e, clock.now())));
    const final = await repo.getSubscription('payer');
    expect(final?.lastEventAt).toBe((2_000_000 + 19) * 1000);
    expect(final?.status).toBe('canceled');
  });
});
