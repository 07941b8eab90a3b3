import { DEFAULT_MIGRATION_TABLE, Migrator, type Kysely, type MigrationResultSet } from 'kysely';
import type { Db } from './database.js';
import { migrations } from './migrations/index.js';

function migrator(db: Db): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

function unwrap(result: MigrationResultSet): string[] {
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '?'} failed: ${(result.error as Error).message}`);
  }
  return (result.results ?? []).map((r) => `${r.direction === 'Up' ? 'applied' : 'reverted'} ${r.migrationName}`);
}

const KNOWN = Object.keys(migrations).sort();

interface Applied {
  name: string;
  executedAt: Date;
}

async function appliedMigrations(db: Db): Promise<Applied[]> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === DEFAULT_MIGRATION_TABLE)) return [];
  const rows = await (db as unknown as Kysely<{ [DEFAULT_MIGRATION_TABLE]: { name: string; timestamp: string } }>)
    .selectFrom(DEFAULT_MIGRATION_TABLE)
    .select(['name', 'timestamp'])
    .execute();
  return rows.map((r) => ({ name: r.name, executedAt: new Date(r.timestamp) }));
}

// Migrations a newer release applied that this build does not carry. Releases only expand
// the schema, and contract it one release later (docs/operations.md, "Roll back"), so the
// previous image runs on its successor's schema: a rollback, or an old instance restarting
// during a rolling deploy, must start on it rather than stop at Kysely's "corrupted
// migrations". Anything else (an unknown migration ordered before a known one, or known
// ones pending beside unknown ones) is another line of releases, and is refused.
async function newerMigrations(db: Db): Promise<Applied[]> {
  const applied = await appliedMigrations(db);
  const newer = applied.filter((m) => !KNOWN.includes(m.name)).sort((a, b) => a.name.localeCompare(b.name));
  if (newer.length === 0) return [];
  const unknown = newer.map((m) => m.name);
  const pending = KNOWN.filter((name) => !applied.some((m) => m.name === name));
  if (pending.length > 0 || unknown[0]! < KNOWN.at(-1)!) {
    throw new Error(
      `the database holds migrations this release does not know (${unknown.join(', ')})` +
        (pending.length > 0 ? ` and lacks ones it needs (${pending.join(', ')})` : ', ordered before its own') +
        ': it was migrated by another line of releases; refusing to migrate it',
    );
  }
  return newer;
}

// Applies what is pending. When a newer release has already migrated the database, applies
// nothing and hands its migrations to `onNewer` (the caller says so).
export async function migrateUp(db: Db, opts: { onNewer?: (names: string[]) => void } = {}): Promise<string[]> {
  const newer = await newerMigrations(db);
  if (newer.length > 0) {
    opts.onNewer?.(newer.map((m) => m.name));
    return [];
  }
  return unwrap(await migrator(db).migrateToLatest());
}

export async function migrateDown(db: Db): Promise<string[]> {
  const newer = await newerMigrations(db);
  if (newer.length > 0) {
    throw new Error(`the latest migration, ${newer.at(-1)!.name}, belongs to a newer release: revert it with that release's image (tutorgate migrate down)`);
  }
  return unwrap(await migrator(db).migrateDown());
}

// Every migration this build knows, applied or pending, then any a newer release applied.
export async function migrationStatus(db: Db): Promise<{ name: string; executedAt: Date | undefined; newer?: true }[]> {
  const newer = await newerMigrations(db);
  const known = (await migrator(db).getMigrations()).map((m) => ({ name: m.name, executedAt: m.executedAt }));
  return [...known, ...newer.map((m) => ({ ...m, newer: true as const }))];
}
