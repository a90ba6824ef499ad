/**
 * The MikroORM instance: Postgres via the pg driver, EntitySchema entities (no decorators),
 * and the committed migrations, applied at start-up. One instance per process, passed down;
 * callers fork an EntityManager per request / per activity.
 */
import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import path from 'node:path';
import { entities } from './entities';
import { migrationsList } from './migrations';

export interface OrmOptions {
  /** Log SQL through MikroORM's logger (off by default: the API logs requests itself). */
  debug?: boolean;
  /** Connection pool bounds; small by default since tests open one ORM per file. */
  pool?: { min: number; max: number };
}

/** The ORM options for a database URL. Shared by createOrm and the migration generator. */
export function ormOptions(databaseUrl: string, opts: OrmOptions = {}): Options {
  return {
    clientUrl: databaseUrl,
    entities,
    extensions: [Migrator],
    debug: opts.debug ?? false,
    pool: opts.pool ?? { min: 0, max: 5 },
    // Entities are plain interfaces, so there is no class/reflection metadata to discover.
    discovery: { warnWhenNoEntities: true },
    migrations: {
      // Explicit list: the running process never globs the filesystem for code to load.
      migrationsList,
      // Where the generator writes new files (db/migrate-create.ts).
      path: path.join(__dirname, 'migrations'),
      pathTs: path.join(__dirname, 'migrations'),
      emit: 'ts',
      snapshot: false,
      transactional: true,
      allOrNothing: true,
      // Applied migrations are reported by the caller's logger, not console.log.
      silent: true,
    },
    allowGlobalContext: false,
  };
}

/** Connects and applies every pending committed migration before returning. */
export async function createOrm(databaseUrl: string, opts: OrmOptions = {}): Promise<MikroORM> {
  const orm = await MikroORM.init(ormOptions(databaseUrl, opts));
  try {
    await orm.getMigrator().up();
  } catch (err) {
    await orm.close(true);
    throw err;
  }
  return orm;
}
