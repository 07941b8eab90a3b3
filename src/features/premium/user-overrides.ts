import { LRUCache } from 'lru-cache';
import type { BudgetRepository } from '../usage/budget.repository.js';
import type { UserOverrides } from './premium-pipeline.js';

// Per-user limit and budget overrides are read on every premium request and change
// rarely. Each instance keeps them for one second: an admin change applies on every
// instance within a second (at once on the instance that made it), without a query per
// request. The budget counters themselves are never cached.
export class UserOverridesReader {
  private readonly cache = new LRUCache<string, { value: UserOverrides | undefined }>({ max: 100_000, ttl: 1000, ttlAutopurge: false });

  constructor(private readonly repo: Pick<BudgetRepository, 'getOverride'>) {}

  async get(userId: string): Promise<UserOverrides | undefined> {
    const hit = this.cache.get(userId);
    if (hit) return hit.value;
    const o = await this.repo.getOverride(userId);
    const value = o && { limits: o.limits, monthlyBudgetMicros: o.monthlyBudgetMicros };
    this.cache.set(userId, { value });
    return value;
  }

  invalidate(userId: string): void {
    this.cache.delete(userId);
  }
}
