import { Redis } from 'ioredis';
import { buildApp } from './app.js';
import { createContainer, type Container } from './container.js';
import { systemClock } from './platform/clock.js';
import type { Config } from './platform/config.js';
import { openStore, type Store } from './platform/db/database.js';
import { migrateUp } from './platform/db/migrator.js';
import { resolveJwtSecret } from './platform/jwt-secret.js';
import { createLogger, type Logger } from './platform/logger.js';
import { loadPolicy } from './platform/policy.js';

// Options every Redis client of ours needs: a dead Redis must fail fast, never queue
// commands forever or hang a request.
export function openRedis(url: string, logger?: Logger): Redis {
  const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 500, connectTimeout: 2000, lazyConnect: false });
  redis.on('error', (err: Error) => logger?.warn({ err: { message: err.message } }, 'redis error'));
  return redis;
}

export interface Runtime {
  config: Config;
  store: Store;
  container: Container;
  logger: Logger;
}

export async function startRuntime(config: Config): Promise<Runtime> {
  const logger = createLogger(config.LOG_LEVEL);
  const policy = loadPolicy(config.TUTORGATE_POLICY);
  const store = openStore(config.DATABASE_URL);
  await migrateUp(store.db);
  const redis = config.REDIS_URL ? openRedis(config.REDIS_URL, logger) : undefined;
  const jwtSecret = resolveJwtSecret(config);
  const container = await createContainer({ config, policy, store, logger, clock: systemClock, ...(jwtSecret ? { jwtSecret } : {}), ...(redis ? { redis } : {}) });
  return { config, store, container, logger };
}

export async function serve(config: Config): Promise<void> {
  const { store, container, logger } = await startRuntime(config);
  const app = await buildApp(container);
  await app.listen({ port: config.PORT, host: config.HOST });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests');
    const force = setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.TUTORGATE_SHUTDOWN_TIMEOUT_MS);
    force.unref();
    try {
      await app.close(); // stops accepting, waits for in-flight requests
      await container.close();
      container.redis?.disconnect();
      await store.close();
      logger.info('stopped');
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
