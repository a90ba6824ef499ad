/**
 * `rlhf keys create --project P [--name N] | list --project P | revoke KEY_ID`: API keys live in the API's
 * database and no API route hands them out (a key cannot mint keys), so these commands talk to Postgres
 * directly (`--database-url` or DATABASE_URL), like scripts/create-api-key.ts. The key is printed once.
 */
import { createRequire } from 'node:module';
import { Command, InvalidArgumentError } from 'commander';
import { LABEL_RE } from '../../db/api-key-format';
import type { ProjectRepository } from '../../db/repositories/project-repository';
import { CliEnv, type CliContext } from '../context';
import { NotFoundError, UsageError } from '../errors';
import { table } from '../watch';

const load = createRequire(__filename);

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function label(value: string): string {
  if (!LABEL_RE.test(value)) throw new InvalidArgumentError(`expected a label matching ${LABEL_RE.source}, got ${JSON.stringify(value)}`);
  return value;
}

function keyId(value: string): string {
  if (!UUID_RE.test(value)) throw new InvalidArgumentError(`expected a key id (a UUID, as \`rlhf keys list\` shows), got ${JSON.stringify(value)}`);
  return value.toLowerCase();
}

/** Runs `fn` with a project repository on DATABASE_URL (migrations applied first, as the API does). */
async function withRepository<T>(ctx: CliContext, databaseUrl: string | undefined, fn: (repo: ProjectRepository) => Promise<T>): Promise<T> {
  const url = databaseUrl ?? ctx.io.env[CliEnv.databaseUrl];
  if (!url) throw new UsageError(`keys commands need the API's database: set ${CliEnv.databaseUrl} or pass --database-url`);
  // Loaded here, not at start-up: MikroORM takes seconds to load and only the keys commands need it. A
  // CommonJS require (how tsx and jest run this code), since tsx's CommonJS hooks do not serve import() of our .ts files.
  const { createOrm } = load('../../db/orm') as typeof import('../../db/orm');
  const { ProjectRepository } = load('../../db/repositories/project-repository') as typeof import('../../db/repositories/project-repository');
  const orm = await createOrm(url);
  try {
    return await fn(new ProjectRepository(orm.em.fork()));
  } finally {
    await orm.close(true);
  }
}

export function keysCommand(ctx: CliContext): Command {
  const keys = new Command('keys').description("API keys (needs the API's database)");
  const dbOption = ['--database-url <url>', `the API's Postgres (env ${CliEnv.databaseUrl})`] as const;
  keys
    .command('create')
    .description('create an API key for a project (the project is created if absent); prints the key once')
    .requiredOption('--project <name>', 'project name', label)
    .option('--name <label>', 'label of the key, e.g. ci', label, 'default')
    .option(...dbOption)
    .action((opts: { project: string; name: string; databaseUrl?: string }) =>
      withRepository(ctx, opts.databaseUrl, async (repo) => {
        const project = await repo.ensure(opts.project);
        const { key, row } = await repo.createKey(project.id, opts.name);
        if (ctx.json) return ctx.printJson({ key, keyId: row.id, name: row.name, prefix: row.prefix, projectId: project.id, project: project.name });
        ctx.note(`created key "${row.name}" (id ${row.id}) for project "${project.name}"; it is shown once:`);
        ctx.print(key);
      }),
    );
  keys
    .command('list')
    .description("list a project's keys (never their secrets)")
    .requiredOption('--project <name>', 'project name', label)
    .option(...dbOption)
    .action((opts: { project: string; databaseUrl?: string }) =>
      withRepository(ctx, opts.databaseUrl, async (repo) => {
        const project = await repo.findByName(opts.project);
        if (!project) throw new NotFoundError(`no project called ${JSON.stringify(opts.project)}`);
        const rows = await repo.listKeys(project.id);
        if (ctx.json) return ctx.printJson(rows);
        ctx.print(
          table([
            ['id', 'name', 'prefix', 'created', 'revoked'],
            ...rows.map((r) => [r.id, r.name, `rlhf_${r.prefix}_…`, r.createdAt.toISOString(), r.revokedAt?.toISOString() ?? '']),
          ]),
        );
      }),
    );
  keys
    .command('revoke')
    .description('revoke a key: it never authenticates again (the row stays for the audit trail)')
    .argument('<keyId>', 'the key id (`rlhf keys list`)', keyId)
    .option(...dbOption)
    .action((id: string, opts: { databaseUrl?: string }) =>
      withRepository(ctx, opts.databaseUrl, async (repo) => {
        const row = await repo.getKey(id);
        if (!row) throw new NotFoundError(`no key with id ${id}`);
        const revoked = await repo.revokeKey(id);
        if (ctx.json) return ctx.printJson({ keyId: id, revoked: true, alreadyRevoked: !revoked });
        ctx.print(revoked ? `key ${id} revoked` : `key ${id} was already revoked (at ${row.revokedAt?.toISOString()})`);
      }),
    );
  return keys;
}
