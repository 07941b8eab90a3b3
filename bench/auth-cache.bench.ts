// What remembering authentication reads saves on SQLite (ADR 0013): a key lookup through
// IdentityRepository without the cache (the three-table read), with it as the service has
// it (the identity version kept for the turn of the event loop: the rounds below run in
// one turn), with it reading the version for every lookup (as before session 10), and the
// version read alone. 500 keys on a SQLite file as the service opens it; best of 5 rounds
// of 50,000 lookups each, µs per lookup.
// Run: npx tsx bench/auth-cache.bench.ts  → bench/results/auth-cache.json
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashApiKey } from '../src/features/identity/api-key.js';
import { AuthReadCache, identityVersionReader } from '../src/features/identity/auth-read-cache.js';
import { IdentityRepository } from '../src/features/identity/identity.repository.js';
import { IdentityService } from '../src/features/identity/identity.service.js';
import { openStore } from '../src/platform/db/database.js';
import { migrateUp } from '../src/platform/db/migrator.js';

const KEYS = 500;
const ROUNDS = 5;
const CALLS = 50_000;
const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(os.tmpdir(), 'tg-auth-'));
const store = openStore(`sqlite:${join(dir, 'auth.db')}`);
await migrateUp(store.db);
const keptForTurn = identityVersionReader(store)!;
const readEachTime = identityVersionReader({ readNow: store.readNow })!; // no write count: nothing kept
const plain = new IdentityRepository(store.db);
const remembered = new IdentityRepository(store.db, new AuthReadCache(keptForTurn));
const rememberedReadingEachTime = new IdentityRepository(store.db, new AuthReadCache(readEachTime));
const service = new IdentityService(plain, { now: () => Date.now() });
const hashes: string[] = [];
for (let i = 0; i < KEYS; i++) {
  await service.createUser({ id: `u${i}`, roles: ['learner'], tier: 'premium' });
  hashes.push(hashApiKey((await service.createApiKey(`u${i}`)).key));
}

async function best(f: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < CALLS / 2; i++) await f(i); // warm-up, and fills the cache
  let us = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < CALLS; i++) await f(i);
    us = Math.min(us, ((performance.now() - t0) / CALLS) * 1000);
  }
  return +us.toFixed(2);
}

const result = {
  bench: 'auth-cache',
  unit: 'µs per lookup, best of 5 × 50,000',
  keys: KEYS,
  withoutCache: await best((i) => plain.authByKeyHash(hashes[i % KEYS]!)),
  remembered: await best((i) => remembered.authByKeyHash(hashes[i % KEYS]!)),
  rememberedReadingVersionEachTime: await best((i) => rememberedReadingEachTime.authByKeyHash(hashes[i % KEYS]!)),
  versionReadAlone: await best(() => readEachTime()),
  node: process.version,
  at: new Date().toISOString(),
};
await store.close();
rmSync(dir, { recursive: true, force: true });
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'auth-cache.json'), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
