import { Command, InvalidArgumentError, Option } from 'commander';
import { parseConfig, ConfigError, type Config } from './platform/config.js';
import { parseDuration } from './platform/duration.js';
import { connectStore, type Store } from './platform/db/database.js';
import { migrateDown, migrateUp, migrationStatus } from './platform/db/migrator.js';
import { resolveJwtSecret } from './platform/jwt-secret.js';
import { PolicyError } from './platform/policy.js';
import { AppError } from './platform/errors.js';
import { systemClock } from './platform/clock.js';
import { IdentityRepository } from './features/identity/identity.repository.js';
import { IdentityService } from './features/identity/identity.service.js';
import { signDevToken } from './features/identity/jwt-verifier.js';
import { registerExtraCommands } from './cli-extra.js';

const config = (): Config => parseConfig(process.env);

// Migrates first, unless told not to (a command that promises to change nothing).
async function withStore<T>(fn: (store: Store) => Promise<T>, opts: { migrate?: boolean } = {}): Promise<T> {
  const store = await connectStore(config().DATABASE_URL, { poolSize: 2 });
  try {
    if (opts.migrate ?? true) await migrateUp(store.db);
    return await fn(store);
  } finally {
    await store.close();
  }
}

const positiveInt = (v: string) => {
  // Digits only: Number('') is 0 (a random port), and '0x50' or '1e3' are not what was meant.
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError('expected a non-negative integer');
  return Number(v.trim());
};

const program = new Command('tutorgate').description('Premium-intelligence service for learning apps').showHelpAfterError();

program
  .command('serve')
  .description('serve the HTTP API')
  .action(async () => (await import('./main.js')).serve(config()));

program
  .command('migrate')
  .description('apply, revert or list database migrations')
  .addArgument(new Command().createArgument('[direction]', 'up, down or status').choices(['up', 'down', 'status']).default('up'))
  .action(async (direction: 'up' | 'down' | 'status') => {
    const store = await connectStore(config().DATABASE_URL, { poolSize: 1 });
    try {
      if (direction === 'status') {
        for (const m of await migrationStatus(store.db)) console.log(`${m.executedAt ? 'applied' : 'pending'}\t${m.name}${m.newer ? '\t(by a newer release)' : ''}`);
      } else {
        let newer: string[] = [];
        const done = direction === 'up' ? await migrateUp(store.db, { onNewer: (names) => (newer = names) }) : await migrateDown(store.db);
        if (newer.length > 0) console.log(`nothing to do: a newer release has applied ${newer.join(', ')}`);
        else console.log(done.length ? done.join('\n') : 'nothing to do');
      }
    } finally {
      await store.close();
    }
  });

const users = program.command('users').description('manage users');
users
  .command('create')
  .requiredOption('--id <id>', 'user id')
  .addOption(new Option('--tier <tier>', 'subscription tier').choices(['free', 'premium']).default('free'))
  .addOption(new Option('--role <role...>', 'roles').choices(['learner', 'instructor', 'admin']).default(['learner']))
  .action(async (o: { id: string; tier: 'free' | 'premium'; role: ('learner' | 'instructor' | 'admin')[] }) => {
    await withStore(async (store) => {
      const svc = new IdentityService(new IdentityRepository(store.db), systemClock);
      const user = await svc.createUser({ id: o.id, tier: o.tier, roles: o.role });
      console.log(JSON.stringify({ ...user, tier: o.tier }));
    });
  });

users
  .command('export')
  .argument('<id>', 'user id')
  .description('print everything held about a user as one JSON document (right of access)')
  .action(async (id: string) => {
    const { withPersonalData } = await import('./features/privacy/privacy.cli.js');
    await withStore((store) => withPersonalData(config(), store, async (svc) => console.log(JSON.stringify(await svc.export(id), null, 2))));
  });

users
  .command('erase')
  .argument('<id>', 'user id')
  .description("erase a user's personal data in one transaction; usage and billing rows stay under a pseudonym (totals unchanged)")
  .action(async (id: string) => {
    const { withPersonalData } = await import('./features/privacy/privacy.cli.js');
    await withStore((store) => withPersonalData(config(), store, async (svc) => console.log(JSON.stringify(await svc.erase(id, { label: 'cli' })))));
  });

program
  .command('keys')
  .description('manage API keys')
  .command('create')
  .requiredOption('--user <id>', 'user id')
  .action(async (o: { user: string }) => {
    await withStore(async (store) => {
      const svc = new IdentityService(new IdentityRepository(store.db), systemClock);
      const { key, id } = await svc.createApiKey(o.user);
      console.error(`API key ${id} for ${o.user} (shown once; store it now):`);
      console.log(key);
    });
  });

program
  .command('token')
  .description('print a signed JWT for a user (development and tests)')
  .requiredOption('--user <id>', 'user id (the JWT subject)')
  .option('--ttl <duration>', 'lifetime, e.g. 15m, 1h, 7d', '1h')
  .action(async (o: { user: string; ttl: string }) => {
    const cfg = config();
    const ms = parseDuration(o.ttl);
    if (!ms) throw new InvalidArgumentError('--ttl: expected a duration like 1h');
    const secret = resolveJwtSecret(cfg);
    if (!secret) throw new ConfigError('tokens can only be signed with an HS256 secret; TUTORGATE_JWKS_URL is set');
    console.log(await signDevToken(secret, o.user, Math.ceil(ms / 1000), {
      ...(cfg.TUTORGATE_JWT_ISSUER ? { issuer: cfg.TUTORGATE_JWT_ISSUER } : {}),
      ...(cfg.TUTORGATE_JWT_AUDIENCE ? { audience: cfg.TUTORGATE_JWT_AUDIENCE } : {}),
    }));
  });

registerExtraCommands(program, { config, withStore, positiveInt });

program.parseAsync(process.argv).catch((err: unknown) => {
  // Expected failures print one line; nothing else (no stack, no secrets).
  if (err instanceof ConfigError || err instanceof PolicyError || err instanceof InvalidArgumentError) console.error(`tutorgate: ${err.message}`);
  else if (err instanceof AppError) console.error(`tutorgate: ${err.message}`);
  else console.error(`tutorgate: ${(err as Error).message ?? String(err)}`);
  // Now, not when the event loop empties: a start-up that failed half-way leaves the
  // store's checkpoint worker or a Redis client open, and a process that lingers with
  // nothing listening looks alive to a supervisor that would otherwise restart it.
  process.exit(1);
});
