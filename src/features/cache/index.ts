export { cacheKey, canonicalJson, type CacheKeyInput } from './cache-key.js';
export { createCacheManager, type CacheManager, type CachedValue, type ComputeResult, type CreateCacheManagerOptions } from './cache-manager.js';
export { registerCacheMetrics, type CacheMetrics } from './cache-metrics.js';
