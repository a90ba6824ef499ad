/**
 * scripts/create-api-key.ts as an operator runs it: a subprocess with DATABASE_URL, printing
 * the key once on stdout (stderr names the key but never holds the secret). The printed key
 * authenticates as the named project; a second key of the same project is distinct, and bad
 * arguments fail without creating anything.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ProjectRepository } from '../../db/repositories';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { countRows } from './row-counts';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const TSX = path.join(ROOT, 'node_modules/tsx/dist/cli.mjs');

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.dispose());

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [TSX, 'scripts/create-api-key.ts', ...args], { cwd: ROOT, env: { ...process.env, DATABASE_URL: db.url } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

it('prints a working key once, for the named project', async () => {
  const first = await cli(['--project', 'acme', '--key-name', 'ci']);
  expect(first.code).toBe(0);
  const key = first.stdout.trim();
  expect(key).toMatch(/^rlhf_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  expect(first.stderr).toContain('created key "ci"');
  expect(first.stderr).not.toContain(key.slice(-43));

  const repo = new ProjectRepository(db.orm.em.fork());
  const project = await repo.findByName('acme');
  expect(await repo.authenticate(key)).toMatchObject({ projectId: project!.id });

  const second = await cli(['--project', 'acme']);
  expect(second.stdout.trim()).not.toBe(key);
  expect(await repo.authenticate(second.stdout.trim())).toMatchObject({ projectId: project!.id });
});

it('refuses missing or odd arguments and writes nothing', async () => {
  const before = await countRows(db.orm);
  for (const args of [[], ['--project', '../x', '--key-name', 'a\nb'], ['--nope']]) {
    const res = await cli(args);
    expect({ args, code: res.code, stdout: res.stdout }).toEqual({ args, code: 1, stdout: '' });
  }
  expect(await countRows(db.orm)).toEqual(before);
});
