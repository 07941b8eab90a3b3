import { readFileSync } from 'node:fs';
import type { Clock } from '../../platform/clock.js';
import type { Catalog } from './catalog.schema.js';
import { validateCatalog } from './catalog.js';
import type { LearningRepository } from './learning.repository.js';
import { prepareCatalog, type PreparedCatalog } from './prepared-catalog.js';

export function demoCatalog(): Catalog {
  return validateCatalog(JSON.parse(readFileSync(new URL('./demo-catalog.json', import.meta.url), 'utf8')));
}

// The active catalog, cached for a few seconds: an import on any instance is seen by
// every other within that time, without a query per request.
export class CatalogProvider {
  private current: { catalog: Catalog; prepared: PreparedCatalog; loadedAt: number } | undefined;

  constructor(
    private readonly repo: Pick<LearningRepository, 'activeCatalogJson' | 'activeCatalogVersion' | 'putCatalog' | 'catalogJson'>,
    private readonly clock: Clock,
    private readonly ttlMs = 5_000,
  ) {}

  async get(): Promise<{ catalog: Catalog; prepared: PreparedCatalog }> {
    const now = this.clock.now();
    if (this.current && now - this.current.loadedAt < this.ttlMs) return this.current;
    const version = await this.repo.activeCatalogVersion();
    if (this.current && version === this.current.catalog.version) {
      this.current.loadedAt = now;
      return this.current;
    }
    let stored = await this.repo.activeCatalogJson();
    if (!stored) {
      const demo = demoCatalog();
      await this.repo.putCatalog(demo.version, JSON.stringify(demo), now);
      stored = { version: demo.version, json: JSON.stringify(demo) };
    }
    const catalog = validateCatalog(JSON.parse(stored.json));
    this.current = { catalog, prepared: prepareCatalog(catalog), loadedAt: now };
    return this.current;
  }

  // Validates (unknown references, prerequisite cycles) before anything is stored.
  async import(raw: unknown): Promise<Catalog> {
    const catalog = validateCatalog(raw);
    const existing = await this.repo.catalogJson(catalog.version);
    if (existing !== undefined && existing !== JSON.stringify(catalog)) {
      throw new CatalogVersionConflict(catalog.version);
    }
    await this.repo.putCatalog(catalog.version, JSON.stringify(catalog), this.clock.now());
    this.current = undefined;
    return catalog;
  }
}

export class CatalogVersionConflict extends Error {
  constructor(readonly version: string) {
    super(`catalog version "${version}" exists with other content; versions are immutable, bump the version`);
  }
}
