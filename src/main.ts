import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { buildApp } from './app.js';
import { createContainer, type Container } from './container.js';
import { startAlertEvaluator } from './features/alerts/alert-evaluator.js';
import { startCalibrationSchedule } from './features/grading/calibration-schedule.js';
import { createAlertMetricSource } from './features/alerts/alert-metrics.source.js';
import { createRedisAlertState } from './features/alerts/redis-alert-state.js';
import { startRetention } from './features/retention/retention.service.js';
import { startPendingReconciler } from './features/usage/pending-reconciler.js';
import { reloadApiKey } from './llm/client/key-source.js';
import { systemClock } from './platform/clock.js';
import { ConfigError, type Config } from './platform/config.js';
import { claimOnce } from './platform/db/claim-once.js';
import { connectStore, type Store } from './platform/db/database.js';
import { migrateUp } from './platform/db/migrator.js';
import { parseDuration } from './platform/duration.js';
import { resolveJwtSecret } from './platform/jwt-secret.js';
import { createLogger, exitAfterLogs, type Logger } from './platform/logger.js';
import { loadPolicy } from './platform/policy.js';

// A pending ledger row older than this belongs to a process that died mid-call
// (no upstream call lasts this long: the client caps the total retry time).
const RECONCILE_AFTER_MS = 10 * 60_000;
// And while running, so a settlement that failed after its answer does not hold its
// budget until the next restart.
const RECONCILE_EVERY_MS = 5 * 60_000;

// Options every Redis client of ours needs: a dead Redis must fail fast, never queue
// commands forever or hang a request.
export function openRedis(url: string, logger?: Logger): Redis {
  const redis = new Redis(url, { enableOfflineQueue: false, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 1, commandTimeout: 500, connectTimeout: 2000 });
  redis.on('error', (err: Error) => logger?.warn({ err: { message: err.message } }, 'redis error'));
  return redis;
}

// Resolves once the client is connected (true), or after `timeoutMs` without (false).
export function whenRedisReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.off('ready', ready);
      resolve(false);
    }, timeoutMs);
    const ready = () => {
      clearTimeout(timer);
      resolve(true);
    };
    redis.once('ready', ready);
  });
}

// The first retention run, after start-up has settled (every instance of a deploy restarts together).
const RETENTION_FIRST_RUN_AFTER_MS = 60_000;

// How long start-up waits for Redis before serving without it: the instance is then live
// (/healthz) and unready (/readyz 503) until Redis answers, rather than neither.
const REDIS_START_WAIT_MS = 5_000;

export interface Runtime {
  config: Config;
  store: Store;
  container: Container;
  logger: Logger;
  stop(): Promise<void>;
}

export async function startRuntime(config: Config): Promise<Runtime> {
  const logger = createLogger(config.LOG_LEVEL);
  const policy = loadPolicy(config.TUTORGATE_POLICY);
  // A failing background checkpoint is logged when it starts failing and when it recovers.
  let checkpointsFailing = false;
  const store = await connectStore(config.DATABASE_URL, {
    backgroundCheckpoints: {
      onReport: (r) => {
        if (r.ok === !checkpointsFailing) return;
        checkpointsFailing = !r.ok;
        if (r.ok) logger.info('background WAL checkpoints work again');
        else logger.warn({ err: { message: r.error } }, 'background WAL checkpoint failed; the serving connection checkpoints past 10,000 pages');
      },
    },
  });
  await migrateUp(store.db, {
    onNewer: (names) =>
      logger.warn({ migrations: names }, 'the database was migrated by a newer release (a rollback?): serving on its schema without migrating (docs/operations.md, "Roll back")'),
  });
  const redis = config.REDIS_URL ? openRedis(config.REDIS_URL, logger) : undefined;
  if (redis && !(await whenRedisReady(redis, REDIS_START_WAIT_MS))) {
    logger.warn({ waitedMs: REDIS_START_WAIT_MS }, 'Redis is not reachable (REDIS_URL); serving anyway: /readyz answers 503 and premium LLM calls answer from rules until it is');
  }
  const jwtSecret = resolveJwtSecret(config);
  const container = await createContainer({ config, policy, store, logger, clock: systemClock, ...(jwtSecret ? { jwtSecret } : {}), ...(redis ? { redis } : {}) });
  return {
    config,
    store,
    container,
    logger,
    async stop() {
      await container.close();
      redis?.disconnect();
      await store.close();
    },
  };
}

// Which variable a failed listen is about. A port taken or privileged, a host that does
// not resolve or is no address of this machine stopped start-up with Node's bare
// "listen EADDRINUSE: address already in use 127.0.0.1:3000", naming no variable.
const LISTEN_FAULTS: Record<string, 'PORT' | 'HOST'> = { EADDRINUSE: 'PORT', EACCES: 'PORT', ENOTFOUND: 'HOST', EAI_AGAIN: 'HOST', EAI_NONAME: 'HOST', EADDRNOTAVAIL: 'HOST' };

async function listen(app: FastifyInstance, config: Config): Promise<void> {
  try {
    await app.listen({ port: config.PORT, host: config.HOST });
  } catch (err) {
    const variable = LISTEN_FAULTS[String((err as NodeJS.ErrnoException).code)] ?? 'HOST, PORT';
    throw new ConfigError(`${variable}: cannot listen on ${config.HOST} port ${config.PORT} (${(err as Error).message})`);
  }
}

export async function serve(config: Config): Promise<void> {
  const rt = await startRuntime(config);
  const { store, container, logger } = rt;
  const reconciled = await container.metering.reconcile(RECONCILE_AFTER_MS);
  if (reconciled) logger.warn({ reconciled }, 'settled usage left pending by a crashed process at its reserved amount');
  const app = await buildApp(container);
  await listen(app, config);
  const reconciler = startPendingReconciler({
    metering: container.metering,
    everyMs: RECONCILE_EVERY_MS,
    olderThanMs: RECONCILE_AFTER_MS,
    onReconciled: (n) => logger.warn({ reconciled: n }, 'settled usage left pending (a settlement that failed, or a crashed process) at its reserved amount'),
    onError: (err) => logger.warn({ err: { message: (err as Error).message } }, 'reconciling pending usage failed; retrying at the next pass'),
  });

  const evaluator =
    container.policy.alerts.rules.length > 0 && config.TUTORGATE_ALERT_EVALUATOR === 'on'
      ? startAlertEvaluator({
          rules: container.policy.alerts.rules,
          source: createAlertMetricSource({ db: store.db, registry: container.metrics.registry, clock: container.clock }),
          sink: container.alerts,
          clock: container.clock,
          intervalMs: 30_000,
          onError: (err, metric) => logger.warn({ metric, err: { message: (err as Error).message } }, 'alert metric unavailable'),
          // Every instance runs it by default: the fleet-wide rules' state lives in Redis so
          // that one message goes out per condition, not one per instance.
          ...(container.redis ? { shared: createRedisAlertState(container.redis, { prefix: 'tg:alerts' }) } : {}),
          onSharedError: (err, rule) => logger.warn({ rule, err: { message: (err as Error).message } }, 'alert state in Redis unavailable; this instance alerts on its own copy'),
          instance: hostname(),
        })
      : undefined;

  const calibrateEvery = container.policy.grading.calibrationEvery ? parseDuration(container.policy.grading.calibrationEvery) : undefined;
  // One instance runs each period's calibration (it pays for a model grade of every anchor).
  const calibration = calibrateEvery
    ? startCalibrationSchedule(
        {
          rubrics: () => container.grading.service.rubrics(),
          calibrate: (id) => container.grading.calibration.calibrate(id),
          claim: (key, now) => claimOnce(store.db, key, now),
          now: () => container.clock.now(),
          logger,
        },
        calibrateEvery,
      )
    : undefined;

  // Retention (ADR 0017): only with a period in the policy; the first run a minute after
  // start-up, when the instance has settled.
  const retentionEvery = container.retention.configured() ? parseDuration(container.policy.retention!.every) : undefined;
  const retention = retentionEvery ? startRetention(container.retention, { everyMs: retentionEvery, firstAfterMs: RETENTION_FIRST_RUN_AFTER_MS, logger }) : undefined;

  // Key rotation without a restart: rewrite ANTHROPIC_API_KEY_FILE, then send SIGHUP.
  process.on('SIGHUP', () => reloadApiKey(container.llm, config, logger));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return logger.info({ signal }, 'already shutting down; the drain goes on');
    stopping = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests');
    // The last part of the deadline is for writing the last log lines, bounded however
    // stdout is (a pipe whose reader has gone must not hold the exit: exitAfterLogs).
    const timeoutMs = config.TUTORGATE_SHUTDOWN_TIMEOUT_MS;
    const logsMs = Math.min(500, Math.floor(timeoutMs / 10));
    const deadline = Date.now() + timeoutMs;
    const exit = (code: number) => exitAfterLogs(logger, code, Math.max(0, Math.min(logsMs, deadline - Date.now())));
    // Not unref'd: were the drain left waiting on nothing that holds the event loop, the
    // process would end on its own with 0 mid-drain instead of 1 here.
    setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      void exit(1);
    }, timeoutMs - logsMs);
    try {
      calibration?.stop();
      await retention?.stop(); // ends its run after the current batch, before the store closes
      await reconciler.stop();
      app.startDraining();
      await app.close(); // stops accepting, waits for in-flight requests
      await evaluator?.stop();
      await rt.stop();
      logger.info('stopped');
      await exit(0);
    } catch (err) {
      logger.error({ err }, 'error during shutdown');
      await exit(1);
    }
  };
  // `on`, not `once`: with no listener left, a repeated signal (a supervisor signalling
  // again, Ctrl-C under `npm start`, where the terminal and npm both deliver SIGINT) would
  // kill the process mid-drain. The shutdown deadline above bounds the drain instead.
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
