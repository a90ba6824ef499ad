/**
 * A fresh Postgres database per test file: created from the maintenance URL in DATABASE_URL
 * (exported by scripts/test.sh), migrated by createOrm exactly as in production, and dropped
 * again by dispose(). Usage:
 *   let db: TestDatabase;
 *   beforeAll(async () => { db = await createTestDatabase(); });
 *   afterAll(() => db.dispose());
 */
import { randomBytes } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';
import { createOrm } from '../../db/orm';

export interface TestDatabase {
  /** Connection URL of the new database (hand it to code under test, e.g. an app's env). */
  url: string;
  /** An ORM on the new database with every migration applied. */
  orm: MikroORM;
  /** Closes the ORM and drops the database (terminating other sessions on it). */
  dispose(): Promise<void>;
}

/** Runs one statement on the maintenance database through a short-lived connection. */
async function onMaintenanceDb(maintenanceUrl: string, sql: string): Promise<void> {
  const admin = await MikroORM.init({
    clientUrl: maintenanceUrl,
    entities: [],
    discovery: { warnWhenNoEntities: false },
    pool: { min: 0, max: 1 },
  });
  try {
    await admin.em.getConnection().execute(sql);
  } finally {
    await admin.close(true);
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const maintenanceUrl = process.env.DATABASE_URL;
  if (!maintenanceUrl) throw new Error('DATABASE_URL is not set: run the suite with `npm test` (scripts/test.sh starts Postgres)');
  // Lower-case letters and digits only, so the name needs no quoting rules beyond the quotes below.
  const name = `test_${process.pid}_${randomBytes(6).toString('hex')}`;
  await onMaintenanceDb(maintenanceUrl, `create database "${name}"`);
  const url = new URL(maintenanceUrl);
  url.pathname = `/${name}`;
  let orm: MikroORM;
  try {
    orm = await createOrm(url.toString());
  } catch (err) {
    await onMaintenanceDb(maintenanceUrl, `drop database if exists "${name}" with (force)`);
    throw err;
  }
  return {
    url: url.toString(),
    orm,
    async dispose() {
      await orm.close(true);
      // WITH (FORCE) (Postgres 13+) also ends connections the code under test left open.
      await onMaintenanceDb(maintenanceUrl, `drop database if exists "${name}" with (force)`);
    },
  };
}
