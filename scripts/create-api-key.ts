/**
 * Creates an API key for a project (creating the project if it does not exist) and prints
 * the key once on stdout; only its hash is stored. Reads DATABASE_URL and applies pending
 * migrations first, like the API does.
 *
 *   npx tsx scripts/create-api-key.ts --project <name> [--key-name ci]
 *
 * The key goes in every API request as `Authorization: Bearer <key>`.
 */
import { parseArgs } from 'node:util';
import { loadEnv } from '../common/env';
import { LABEL_RE } from '../db/api-key-format';
import { createOrm } from '../db/orm';
import { ProjectRepository } from '../db/repositories/project-repository';

const USAGE = 'usage: npx tsx scripts/create-api-key.ts --project <name> [--key-name <label>]';

function parseCli(argv: string[]): { project: string; keyName: string } {
  const { values } = parseArgs({ args: argv, options: { project: { type: 'string' }, 'key-name': { type: 'string', default: 'default' } }, strict: true });
  const project = values.project;
  const keyName = values['key-name'] ?? 'default';
  if (!project) throw new Error(`--project is required\n${USAGE}`);
  for (const [flag, value] of [['--project', project], ['--key-name', keyName]] as const) {
    if (!LABEL_RE.test(value)) throw new Error(`${flag} must match ${LABEL_RE.source}`);
  }
  return { project, keyName };
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  const { DATABASE_URL } = loadEnv();
  if (!DATABASE_URL) throw new Error('DATABASE_URL must be set to the API\'s database');
  const orm = await createOrm(DATABASE_URL);
  try {
    const repo = new ProjectRepository(orm.em.fork());
    const project = await repo.ensure(cli.project);
    const { key, row } = await repo.createKey(project.id, cli.keyName);
    console.error(`created key "${row.name}" (id ${row.id}) for project "${project.name}" (${project.id}); it is shown once:`);
    console.log(key);
  } finally {
    await orm.close(true);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
