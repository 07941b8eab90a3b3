import type { Kysely } from 'kysely';

// Secrets every instance on the database must share and no operator sets: the dashboard
// session key when end-user JWTs come from a JWKS (there is then no TUTORGATE_JWT_SECRET
// to derive it from). The first instance to start writes a random value; the others read it.
// Expand only: a rolled-back release ignores the table (and keys its sessions per process).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('shared_secrets')
    .ifNotExists()
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('shared_secrets').execute();
}
