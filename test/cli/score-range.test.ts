/**
 * `rlhf feedback import` against a server that bounds scores (AppOptions.scoreRange): the CLI reads the
 * bound from the server's OpenAPI document, so a row out of range is named before anything is sent. The
 * real bin against a real listening API on real Postgres.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

const ROOT = path.resolve(__dirname, '..', '..');
let db: TestDatabase;
let app: FastifyInstance;
let auth: TestProjectKey;
let dir: string;
let baseUrl: string;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url }), scoreRange: { min: -2, max: 2 } }, false);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  baseUrl = `http://127.0.0.1:${address.port}`;
  auth = await createTestProjectKey(db.orm);
  dir = await mkdtemp(path.join(tmpdir(), 'rlhf-cli-range-'));
});
afterAll(async () => {
  await app?.close();
  await db?.dispose();
  await rm(dir, { recursive: true, force: true });
});

it('names the out-of-range line before sending anything; an in-range file imports', async () => {
  const rows = Array.from({ length: 30 }, (_, i) => ({ prompt: `q${i}`, response: `a${i}`, score: i === 24 ? 5 : (i % 5) - 2 }));
  const file = path.join(dir, 'rows.jsonl');
  await writeFile(file, rows.map((r) => JSON.stringify(r)).join('\n'));
  const run = (f: string) =>
    promisify(execFile)(process.execPath, [path.join(ROOT, 'bin/rlhf.cjs'), 'feedback', 'import', f, '--agent', 'range-agent'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, RLHF_API_URL: baseUrl, RLHF_API_KEY: auth.key },
    }).then(
      (r) => ({ code: 0, ...r }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    );
  const bad = await run(file);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain(`${file}:25: field "score" must be <= 2`);
  const count = async () => (await db.orm.em.fork().getConnection().execute<{ n: number }[]>("select count(*)::int as n from feedback where agent_id = 'range-agent'"))[0].n;
  expect(await count()).toBe(0);

  const good = path.join(dir, 'good.jsonl');
  await writeFile(good, rows.map((r, i) => JSON.stringify(i === 24 ? { ...r, score: 2 } : r)).join('\n'));
  expect((await run(good)).code).toBe(0);
  expect(await count()).toBe(30);
});
