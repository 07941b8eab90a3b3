import type { Config } from '../../platform/config.js';
import type { Store } from '../../platform/db/database.js';
import { createLogger } from '../../platform/logger.js';
import { loadPolicy } from '../../platform/policy.js';
import { systemClock } from '../../platform/clock.js';
import { CACHE_PREFIX, createCacheManager } from '../cache/cache-manager.js';
import { effectiveTier, subscriptionGraceMs } from '../identity/effective-tier.js';
import { CatalogProvider } from '../learning-path/catalog-provider.js';
import { LearnerModel } from '../learning-path/learner-model.js';
import { learnerMastery } from '../learning-path/learning-path.service.js';
import { LearningRepository } from '../learning-path/learning.repository.js';
import { PersonalDataRepository } from './personal-data.repository.js';
import { PersonalDataService } from './personal-data.service.js';

// `tutorgate users export|erase ID`: the service the admin routes use, on the store the
// command opened. The answer goes to stdout as JSON; the erasure's log line to stderr.
// With REDIS_URL the user's cached answers are purged on every instance; without it each
// serving instance caches in its own memory, out of reach of this process: the answer
// then says cacheEntriesPurged null (use DELETE /v1/admin/users/{id} on a running service
// instead, or let the entries expire with their TTL).
export async function withPersonalData<T>(config: Config, store: Store, fn: (s: PersonalDataService) => Promise<T>): Promise<T> {
  const policy = loadPolicy(config.TUTORGATE_POLICY);
  const graceMs = subscriptionGraceMs(policy);
  const learningRepo = new LearningRepository(store.db);
  const learning = { catalogs: new CatalogProvider(learningRepo, systemClock), learners: new LearnerModel(learningRepo, systemClock) };
  let close = async () => {};
  let cache: ConstructorParameters<typeof PersonalDataService>[0]['cache'] = {
    invalidateTags: () => Promise.reject(new Error('no REDIS_URL: the serving instances cache in their own memory')),
  };
  if (config.REDIS_URL) {
    const { openRedis, whenRedisReady } = await import('../../main.js');
    const redis = openRedis(config.REDIS_URL);
    const manager = createCacheManager({ redis, prefix: CACHE_PREFIX });
    cache = { invalidateTags: async (tags) => ((await whenRedisReady(redis, 5_000)) ? manager.invalidateTags(tags) : Promise.reject(new Error('Redis unreachable'))) };
    close = async () => {
      await manager.close();
      redis.disconnect();
    };
  }
  const service = new PersonalDataService({
    store,
    repo: new PersonalDataRepository(store.db),
    cache,
    forget: () => {}, // this process holds no copies; the serving instances' expire within a second (user-overrides.ts)
    tierOf: (sub) => effectiveTier(sub, systemClock.now(), graceMs),
    mastery: (userId) => learnerMastery(learning, userId),
    clock: systemClock,
    logger: createLogger('info', process.stderr),
  });
  try {
    return await fn(service);
  } finally {
    await close();
  }
}
