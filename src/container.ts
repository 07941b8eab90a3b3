import { Counter } from 'prom-client';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from './platform/clock.js';
import type { Config } from './platform/config.js';
import type { Store } from './platform/db/database.js';
import { createMetrics, type HttpMetrics } from './platform/metrics.js';
import { sharedSecret } from './platform/db/shared-secret.js';
import type { Policy } from './platform/policy.js';
import { createAnthropicClient } from './llm/client/anthropic-client.js';
import { loadApiKey } from './llm/client/key-source.js';
import type { AnthropicClient } from './llm/client/types.js';
import { createAlertSink, type AlertSink } from './features/alerts/alert-sink.js';
import { CACHE_PREFIX, createCacheManager, type CacheManager } from './features/cache/cache-manager.js';
import { registerCacheMetrics } from './features/cache/cache-metrics.js';
import { FlagAnalytics } from './features/flags/flag-analytics.js';
import { FlagSnapshot } from './features/flags/flag-snapshot.js';
import { createFlagSync, type FlagSync } from './features/flags/flag-sync.js';
import { FlagsRepository } from './features/flags/flags.repository.js';
import { FlagsService, policyFlagDefaults } from './features/flags/flags.service.js';
import type { ReadinessCheck } from './features/health/health.routes.js';
import { AuthReadCache, identityVersionReader } from './features/identity/auth-read-cache.js';
import { Authenticator } from './features/identity/authenticator.js';
import { IdentityRepository } from './features/identity/identity.repository.js';
import { IdentityService } from './features/identity/identity.service.js';
import { createJwtVerifier } from './features/identity/jwt-verifier.js';
import { createMemoryRateLimiter } from './features/limits/memory-rate-limiter.js';
import { createRedisRateLimiter } from './features/limits/redis-rate-limiter.js';
import { createLimitAbuseDetector } from './features/limits/limit-abuse-detector.js';
import { createAuthFailureLimiter, type AuthFailureLimiter } from './features/limits/auth-failure-limiter.js';
import { registerLimiterMetrics } from './features/limits/limiter-metrics.js';
import type { RateLimiter } from './features/limits/limit-types.js';
import { PremiumPipeline } from './features/premium/premium-pipeline.js';
import { InputTokenEstimator } from './features/premium/input-token-estimator.js';
import { UserOverridesReader } from './features/premium/user-overrides.js';
import { registerPremiumMetrics } from './features/premium/premium-metrics.js';
import { GradingCalibrationService } from './features/grading/grading-calibration.service.js';
import { GradingRepository } from './features/grading/grading.repository.js';
import { GradingService } from './features/grading/grading.service.js';
import { installDemoRubrics } from './features/grading/demo-rubrics.js';
import { CatalogProvider } from './features/learning-path/catalog-provider.js';
import { ExperimentAnalysisService } from './features/learning-path/experiment-analysis.service.js';
import { LearnerModel } from './features/learning-path/learner-model.js';
import { learnerMastery, LearningPathService } from './features/learning-path/learning-path.service.js';
import { LearningRepository } from './features/learning-path/learning.repository.js';
import { UsageAnalyticsRepository } from './features/usage/usage-analytics.repository.js';
import { BudgetRepository } from './features/usage/budget.repository.js';
import { MeteringService } from './features/usage/metering.service.js';
import { DeferredWork } from './platform/deferred-work.js';
import { PriceBook } from './features/usage/price-book.js';
import { registerLlmMetrics } from './features/observability/llm-metrics.js';
import { createBudgetUsageReader } from './features/observability/budget-usage.reader.js';
import { PersonalDataRepository } from './features/privacy/personal-data.repository.js';
import { PersonalDataService } from './features/privacy/personal-data.service.js';
import { effectiveTier, subscriptionGraceMs } from './features/identity/effective-tier.js';
import { registerRetentionMetrics, RetentionService } from './features/retention/retention.service.js';

export interface ContainerInput {
  config: Config;
  policy: Policy;
  store: Store;
  logger: Logger;
  clock: Clock;
  jwtSecret?: string; // when TUTORGATE_JWT_SECRET is unset, main passes the generated one
  redis?: Redis;
  llm?: AnthropicClient; // tests may pass a client with their own settings
}

// Everything the app needs, built once from config, policy and the edges. main.ts and
// the tests both build the app through this, so what is tested is what runs.
export interface Container extends ContainerInput {
  metrics: HttpMetrics;
  // The dashboard session key's secret when there is no JWT secret (a JWKS): shared by every
  // instance on the database (shared_secrets), so a session cookie holds on all of them.
  sessionSecret?: string;
  identity: { repo: IdentityRepository; service: IdentityService; authenticator: Authenticator };
  llm: AnthropicClient;
  prices: PriceBook;
  metering: MeteringService;
  deferred: DeferredWork;
  budgets: BudgetRepository;
  overrides: UserOverridesReader;
  limiter: RateLimiter;
  authFailures: AuthFailureLimiter;
  cache: CacheManager;
  flags: { snapshot: FlagSnapshot; service: FlagsService; sync: FlagSync; analytics: FlagAnalytics };
  alerts: AlertSink;
  pipeline: PremiumPipeline;
  usageAnalytics: UsageAnalyticsRepository;
  grading: { repo: GradingRepository; service: GradingService; calibration: GradingCalibrationService };
  learning: { repo: LearningRepository; catalogs: CatalogProvider; learners: LearnerModel; service: LearningPathService; experiments: ExperimentAnalysisService };
  privacy: PersonalDataService;
  retention: RetentionService;
  readiness: ReadinessCheck[];
  close(): Promise<void>;
}

export async function createContainer(input: ContainerInput): Promise<Container> {
  const { config, policy, store, clock, logger, redis } = input;
  const metrics = createMetrics();
  const registry = metrics.registry;

  const identityVersion = identityVersionReader(store);
  const repo = new IdentityRepository(store.db, identityVersion && new AuthReadCache(identityVersion));
  const service = new IdentityService(repo, clock);
  const jwt = createJwtVerifier({
    ...(config.TUTORGATE_JWKS_URL ? { jwksUrl: config.TUTORGATE_JWKS_URL } : { secret: input.jwtSecret ?? config.TUTORGATE_JWT_SECRET, previousSecret: config.TUTORGATE_JWT_SECRET_PREVIOUS }),
    ...(config.TUTORGATE_JWT_ISSUER ? { issuer: config.TUTORGATE_JWT_ISSUER } : {}),
    ...(config.TUTORGATE_JWT_AUDIENCE ? { audience: config.TUTORGATE_JWT_AUDIENCE } : {}),
  });
  const authenticator = new Authenticator(repo, jwt, policy, clock, (id) => service.ensureUser(id));
  // Read from the store, not made per process: a per-process key signed the cookie of one
  // instance for that instance alone, so behind a load balancer an admin was signed out by
  // every request another instance answered, and by every restart.
  const sessionSecret = (input.jwtSecret ?? config.TUTORGATE_JWT_SECRET) ? undefined : await sharedSecret(store.db, 'admin-session-key', clock.now());

  const alerts = createAlertSink({ webhook: policy.alerts.webhook, logger });
  const prices = new PriceBook(policy.prices);
  const llmMetrics = registerLlmMetrics(registry, prices, () => clock.now());

  const llm =
    input.llm ??
    createAnthropicClient({
      apiKey: loadApiKey(config),
      ...(config.ANTHROPIC_BASE_URL ? { baseURL: config.ANTHROPIC_BASE_URL } : {}),
      models: { ...policy.models },
      timeoutsMs: { grading: 20_000, learning_path: 30_000, ...policy.llm.timeoutMs },
      retry: { maxRetries: policy.llm.maxRetries, maxTotalMs: policy.llm.maxRetryMs, baseDelayMs: 250 },
      breaker: { failureThreshold: policy.llm.breakerFailures, openMs: policy.llm.breakerOpenMs, halfOpenProbes: 1 },
      concurrency: { maxInFlight: policy.llm.maxInFlight, maxQueued: policy.llm.maxQueued, queueTimeoutMs: 5_000 },
      logger,
      onCall: llmMetrics.onCall,
      now: () => clock.now(),
    });

  // A settlement that fails after its answer leaves the pending row and the worst-case
  // hold standing; start-up reconciliation charges it, so nothing is lost.
  const deferredFailures = new Counter({ name: 'tutorgate_deferred_work_failures_total', help: 'Work done after a response (settling usage) that failed; its pending ledger row is settled by the next reconciliation (within 15 minutes).', labelNames: ['work'] as const, registers: [registry] });
  const deferred = new DeferredWork((err, label) => {
    deferredFailures.inc({ work: label });
    logger.error({ work: label, err: { message: (err as Error).message } }, 'work after a response failed');
  });
  const budgets = new BudgetRepository(store.db);
  const metering = new MeteringService(store, prices, clock, (e) =>
    alerts.notify({
      name: e.threshold === 1 ? 'budget-exhausted' : 'budget-80',
      severity: e.threshold === 1 ? 'critical' : 'warning',
      summary: `Budget ${e.key} ${e.refused ? 'refuses calls' : 'is'} at ${Math.round((e.spentMicros / e.capMicros) * 100)} % (${(e.spentMicros / 1e6).toFixed(4)} of ${(e.capMicros / 1e6).toFixed(2)} USD)${e.refused ? ': what is left is less than a call may cost' : ''}.`,
      details: { ...e },
    }),
  );

  const limiter = redis ? createRedisRateLimiter(redis, { prefix: 'tg:rl' }) : createMemoryRateLimiter({ now: () => clock.now() });
  const authFailures = createAuthFailureLimiter({ ...(redis ? { redis, prefix: 'tg:af' } : {}), failuresPerMinute: config.TUTORGATE_AUTH_FAILURES_PER_MINUTE, blockSec: 60 });
  const limiterMetrics = registerLimiterMetrics(registry);
  const abuse = createLimitAbuseDetector({
    threshold: 20,
    windowSec: 300,
    ...(redis ? { shared: { redis, prefix: 'tg:abuse' } } : {}),
    onAlert: (e) => alerts.notify({ name: 'rate-limit-abuse', severity: 'warning', summary: `Repeated rate limiting (${e.kind}).`, details: { ...e } }),
  });

  const cache = createCacheManager({
    maxBytes: 64 * 1024 * 1024,
    ...(redis ? { redis, prefix: CACHE_PREFIX } : {}),
    metrics: registerCacheMetrics(registry),
    now: () => clock.now(),
    onError: (err, op) => logger.debug({ op, err: { message: (err as Error).message } }, 'cache degraded'),
  });

  llmMetrics.collectState({
    breakerState: () => llm.breakerState(),
    cacheStats: () => cache.stats(),
    budgets: createBudgetUsageReader({ budgets, policy, clock }),
  });

  const flagsRepo = new FlagsRepository(store.db);
  const snapshot = new FlagSnapshot({ defaults: policyFlagDefaults(policy), overrides: await flagsRepo.list(), clock });
  const sync = createFlagSync({
    snapshot,
    reload: () => flagsRepo.list(),
    ...(redis ? { redis } : {}),
    pollMs: 1000,
    onError: (err, stage) => logger.debug({ stage, err: { message: (err as Error).message } }, 'flag sync degraded'),
  });
  await sync.start();
  const flagAnalytics = new FlagAnalytics({ clock });
  const flagsService = new FlagsService(flagsRepo, snapshot, sync, clock);

  const overrides = new UserOverridesReader(budgets);
  const pipeline = new PremiumPipeline({
    policy,
    clock,
    flags: {
      evaluate: (key, ctx, now) => {
        const e = snapshot.evaluate(key, ctx, now);
        if (e) flagAnalytics.record({ flag: key, variant: e.variant ?? (e.enabled ? 'on' : 'off'), exposed: e.enabled, reason: e.reason });
        return e;
      },
    },
    limiter,
    cache,
    llm,
    inputTokens: new InputTokenEstimator(llm),
    metering,
    deferred,
    prices,
    overrides: (userId) => overrides.get(userId),
    metrics: registerPremiumMetrics(registry),
    onLimitDecision: (p, feature, d) => {
      limiterMetrics.record(p.tier, feature, d as Parameters<typeof limiterMetrics.record>[2]);
      abuse.observe(p.tier, p.userId, d as Parameters<typeof abuse.observe>[2]);
    },
  });

  const gradingRepo = new GradingRepository(store);
  await installDemoRubrics(gradingRepo, clock.now());
  const gradingService = new GradingService(gradingRepo, pipeline, policy, clock);
  const grading = {
    repo: gradingRepo,
    service: gradingService,
    calibration: new GradingCalibrationService(gradingService, gradingRepo, llm.modelFor('grading'), clock, registry),
  };

  const usageAnalytics = new UsageAnalyticsRepository(store.db);
  const learningRepo = new LearningRepository(store.db);
  const catalogs = new CatalogProvider(learningRepo, clock);
  const learners = new LearnerModel(learningRepo, clock);
  const learning = {
    repo: learningRepo,
    catalogs,
    learners,
    service: new LearningPathService(learningRepo, catalogs, learners, pipeline, clock),
    experiments: new ExperimentAnalysisService(learningRepo, usageAnalytics, clock, (key) => snapshot.get(key) !== undefined),
  };

  const graceMs = subscriptionGraceMs(policy);
  const privacy = new PersonalDataService({
    store,
    repo: new PersonalDataRepository(store.db),
    cache,
    forget: (userId) => overrides.invalidate(userId),
    tierOf: (sub) => effectiveTier(sub, clock.now(), graceMs),
    mastery: (userId) => learnerMastery(learning, userId),
    clock,
    logger,
  });

  const retention = new RetentionService({
    policy: policy.retention,
    grading: gradingRepo,
    learning: learningRepo,
    learners,
    budgets,
    catalog: async () => (await catalogs.get()).catalog,
    clock,
    logger,
    metrics: registerRetentionMetrics(registry),
  });

  const readiness: ReadinessCheck[] = [
    { name: 'store', check: async () => (await store.ping(), { ok: true, detail: { dialect: store.dialect } }) },
    {
      name: 'anthropic',
      optional: true, // without a key the service still answers, from rules
      check: async () => ({ ok: llm.available() && llm.breakerState() !== 'open', detail: { key: llm.keyFingerprint() ?? 'not configured: premium features answer from rules', breaker: llm.breakerState(), breakers: llm.breakerStates() } }),
    },
  ];
  if (redis) readiness.push({ name: 'redis', check: async () => ({ ok: (await redis.ping()) === 'PONG' }) });

  return {
    ...input,
    metrics,
    ...(sessionSecret ? { sessionSecret } : {}),
    identity: { repo, service, authenticator },
    llm,
    prices,
    metering,
    deferred,
    budgets,
    overrides,
    limiter,
    authFailures,
    cache,
    flags: { snapshot, service: flagsService, sync, analytics: flagAnalytics },
    alerts,
    pipeline,
    usageAnalytics,
    grading,
    learning,
    privacy,
    retention,
    readiness,
    async close() {
      await deferred.drain(); // the store closes after this: every answered call is settled first
      await sync.stop();
      await cache.close();
      await limiter.close?.();
    },
  };
}
