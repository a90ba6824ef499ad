/**
 * A throw-away Postgres database on a running server: created from a maintenance URL,
 * migrated by createOrm exactly as in production, and dropped again by dispose(). The tests
 * (test/helpers/database.ts) and the benches (bench/lib/services.ts) each take one per file or
 * run, so nothing they write meets another's data.
 */
import { randomBytes } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';
import { createOrm } from '../../db/orm';

export interface ScratchDatabase {
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

/** `prefix`: lower-case letters only (it starts the database name). */
export async function createScratchDatabase(maintenanceUrl: string, prefix: string): Promise<ScratchDatabase> {
  // Lower-case letters and digits only, so the name needs no quoting rules beyond the quotes below.
  const name = `${prefix}_${process.pid}_${randomBytes(6).toString('hex')}`;
  await onMaintenanceDb(maintenanceUrl, `create database "${name}"`);
  const url = new URL(maintenanceUrl);
  url.pathname = `/${name}`;
  const drop = () => onMaintenanceDb(maintenanceUrl, `drop database if exists "${name}" with (force)`);
  let orm: MikroORM;
  try {
    orm = await createOrm(url.toString());
  } catch (err) {
    await drop();
    throw err;
  }
  return {
    url: url.toString(),
    orm,
    async dispose() {
      await orm.close(true);
      // WITH (FORCE) (Postgres 13+) also ends connections the code under test left open.
      await drop();
    },
  };
}
