export * from './limit-types.js';
export { formatRateLimitHeaders } from './rate-limit-headers.js';
export { createMemoryRateLimiter, type MemoryRateLimiterOptions } from './memory-rate-limiter.js';
export { createRedisRateLimiter, type RedisRateLimiter, type RedisRateLimiterOptions } from './redis-rate-limiter.js';
export { createAuthFailureLimiter, type AuthFailureLimiter, type AuthFailureLimiterOptions, type AuthGate } from './auth-failure-limiter.js';
export { registerLimiterMetrics, type LimiterMetricsRecorder } from './limiter-metrics.js';
export { createLimitAbuseDetector, type LimitAbuseDetector, type LimitAbuseDetectorOptions, type LimitAbuseEvent } from './limit-abuse-detector.js';
