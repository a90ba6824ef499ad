/**
 * Generates a migration from the difference between the entity schemas and the database at
 * DATABASE_URL (which must have every committed migration applied; an empty database gives
 * the initial one). Usage: DATABASE_URL=... npx tsx db/migrate-create.ts [name]
 * Then register the printed class in db/migrations/index.ts and commit both files.
 */
import { MikroORM } from '@mikro-orm/postgresql';
import { loadEnv } from '../common/env';
import { ormOptions } from './orm';

async function main(): Promise<void> {
  const { DATABASE_URL } = loadEnv();
  if (!DATABASE_URL) throw new Error('DATABASE_URL must be set to a Postgres database with the committed migrations applied');
  const orm = await MikroORM.init(ormOptions(DATABASE_URL));
  try {
    await orm.getMigrator().up();
    const result = await orm.getMigrator().createMigration(undefined, false, false, process.argv[2]);
    console.log(result.fileName ? `created ${result.fileName}` : 'no schema changes');
  } finally {
    await orm.close(true);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
