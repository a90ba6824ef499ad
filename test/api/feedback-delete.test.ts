/**
 * DELETE /api/policies/feedback/:agentId against a real Postgres and a real artifact store:
 * all rows, by id, by time range; the copies runs made of the feedback go too; another
 * project's agent answers 404 and loses nothing; an active run refuses it (409) with nothing
 * deleted; bad ids and ranges answer 400 naming the field.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { TrainingRunRepository } from '../../db/repositories';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { runArtifacts } from '../../storage/artifact-keys';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;
let app: FastifyInstance;
let owner: TestProjectKey;
let other: TestProjectKey;
let root: string;
let store: LocalArtifactStore;

beforeAll(async () => {
  db = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), 'feedback-delete-'));
  store = new LocalArtifactStore(root);
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url, ARTIFACT_ROOT: root }) }, { level: 'error' });
  owner = await createTestProjectKey(db.orm);
  other = await createTestProjectKey(db.orm);
});
afterAll(async () => {
  await app?.close();
  await db?.dispose();
  await rm(root, { recursive: true, force: true });
});

const row = (i: number) => ({ prompt: `secret prompt ${i}`, response: `answer ${i}`, score: i % 3, runId: 'ingest' });

async function seed(agentId: string, n: number, key = owner): Promise<string[]> {
  const res = await app.inject({ method: 'POST', url: `/api/policies/feedback/${agentId}/batch`, headers: key.headers, payload: { items: Array.from({ length: n }, (_, i) => row(i)) } });
  expect(res.statusCode).toBe(201);
  return res.json().ids as string[];
}

const del = (agentId: string, query = '', key = owner) => app.inject({ method: 'DELETE', url: `/api/policies/feedback/${agentId}${query}`, headers: key.headers });
const count = async (agentId: string) =>
  (await db.orm.em.fork().getConnection().execute<{ n: number }[]>('select count(*)::int as n from feedback where agent_id = ?', [agentId]))[0].n;

/** A finished run of the agent with its copy of the feedback on disk, as a worker leaves it with RLHF_KEEP_RUN_ARTIFACTS=1. */
async function finishedRunWithCopy(agentId: string, runId: string): Promise<void> {
  const runs = new TrainingRunRepository(db.orm.em.fork());
  await runs.create({ id: runId, workflowId: `train-${runId}`, agentId, config: {} });
  await runs.setStatus(runId, 'failed', 'test');
  const file = store.resolve(runArtifacts.dataset(runId));
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, '{"prompt":"secret prompt 1"}\n');
}

it('deletes every row of the agent and the copies its runs made', async () => {
  await seed('agent-del-all', 5);
  await finishedRunWithCopy('agent-del-all', 'run_del_all_1');
  const res = await del('agent-del-all');
  expect(res.statusCode).toBe(200);
  expect(res.json()).toEqual({ deleted: 5, runCopiesRemoved: 1 });
  expect(await count('agent-del-all')).toBe(0);
  expect(await store.exists(runArtifacts.datasetDir('run_del_all_1'))).toBe(false);
  // Deleting again is harmless.
  expect((await del('agent-del-all')).json()).toEqual({ deleted: 0, runCopiesRemoved: 0 });
});

it('deletes only the named ids, or only a time range', async () => {
  const ids = await seed('agent-del-some', 4);
  const res = await del('agent-del-some', `?ids=${ids[0]},${ids[2]},${ids[2]}`);
  expect(res.json()).toMatchObject({ deleted: 2 });
  const left = (await app.inject({ method: 'GET', url: '/api/policies/feedback/agent-del-some', headers: owner.headers })).json().items.map((f: { id: string }) => f.id);
  expect(left).toEqual([ids[1], ids[3]]);

  // A range that ends before the rows were written deletes nothing; one that covers them deletes them.
  expect((await del('agent-del-some', '?to=2020-01-01T00:00:00Z')).json()).toMatchObject({ deleted: 0 });
  expect((await del('agent-del-some', `?from=2020-01-01T00:00:00Z&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).json()).toMatchObject({ deleted: 2 });
  expect(await count('agent-del-some')).toBe(0);
});

it("another project's key gets 404 and deletes nothing", async () => {
  await seed('agent-del-owned', 3);
  const res = await del('agent-del-owned', '', other);
  expect(res.statusCode).toBe(404);
  expect(await count('agent-del-owned')).toBe(3);
});

it('is refused while a run of the agent is active, deleting nothing', async () => {
  await seed('agent-del-active', 3);
  await finishedRunWithCopy('agent-del-active', 'run_del_active_old');
  await new TrainingRunRepository(db.orm.em.fork()).create({ id: 'run_del_active_now', workflowId: 'train-run_del_active_now', agentId: 'agent-del-active', config: {} });
  const res = await del('agent-del-active');
  expect(res.statusCode).toBe(409);
  expect(res.json()).toMatchObject({ error: 'run_active', runId: 'run_del_active_now' });
  expect(await count('agent-del-active')).toBe(3);
  expect(await store.exists(runArtifacts.datasetDir('run_del_active_old'))).toBe(true);
});

it('answers 400 naming the field for bad ids and ranges', async () => {
  await seed('agent-del-bad', 1);
  for (const [query, field] of [
    ['?ids=abc', 'ids'],
    ['?ids=1,,2', 'ids'],
    [`?ids=${'9'.repeat(19)}`, 'ids'],
    ['?from=yesterday', 'from'],
    ['?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'to'],
    ['?agent=x', 'agent'],
  ] as const) {
    const res = await del('agent-del-bad', query);
    expect({ query, status: res.statusCode, field: res.json().field }).toEqual({ query, status: 400, field });
  }
  expect(await count('agent-del-bad')).toBe(1);
});
