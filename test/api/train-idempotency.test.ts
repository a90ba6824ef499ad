/**
 * Idempotency-Key on POST /api/policies/train_policy/:agentId (issue 14 item 6), through
 * app.inject against real Postgres and the Temporal dev server. No worker polls the queue, so a
 * started workflow stays open: a retry must find its own run, not a 409.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;
let app: FastifyInstance;
let auth: TestProjectKey;
const startedWorkflows: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url }) }, false);
  auth = await createTestProjectKey(db.orm);
});
afterAll(async () => {
  for (const id of startedWorkflows) await app.temporal.workflow.getHandle(id).terminate('test cleanup').catch(() => undefined);
  await app.close();
  await db.dispose();
});

function post(url: string, payload: object, key?: string) {
  return app.inject({ method: 'POST', url, payload, headers: { ...auth.headers, ...(key === undefined ? {} : { 'idempotency-key': key }) } });
}

async function seedFeedback(agentId: string, n: number): Promise<void> {
  const items = Array.from({ length: n }, (_, i) => ({ prompt: `q${i}`, response: `a${i}`, score: (i % 5) - 2, runId: 'rt-1' }));
  expect((await post(`/api/policies/feedback/${agentId}/batch`, { items })).statusCode).toBe(201);
}

async function runRows(agentId: string): Promise<{ id: string; status: string }[]> {
  return db.orm.em.fork().getConnection().execute(`select id, status from training_run where agent_id = ? order by created_at`, [agentId]);
}

const train = (agentId: string) => `/api/policies/train_policy/${agentId}`;
const body = { preset: 'quick', maxSteps: 3, seed: 5 };

it('a retry with the same key and body gets the same 202 and runId, marked replayed; one run, one workflow', async () => {
  await seedFeedback('agent-ti-1', 10);
  const first = await post(train('agent-ti-1'), body, 'train-key-1');
  expect(first.statusCode).toBe(202);
  startedWorkflows.push(first.json().workflowId);
  expect(first.headers['idempotent-replayed']).toBeUndefined();

  const retry = await post(train('agent-ti-1'), body, 'train-key-1');
  expect(retry.statusCode).toBe(202);
  expect(retry.json()).toEqual(first.json());
  expect(retry.headers['idempotent-replayed']).toBe('true');
  expect(await runRows('agent-ti-1')).toEqual([{ id: first.json().runId, status: 'queued' }]);
  const description = await app.temporal.workflow.getHandle(first.json().workflowId).describe();
  expect(description.status.name).toBe('RUNNING');

  // Without the key, or with a new key, the active run still answers 409 naming it.
  for (const key of [undefined, 'train-key-1b']) {
    const other = await post(train('agent-ti-1'), body, key);
    expect(other.statusCode).toBe(409);
    expect(other.json()).toMatchObject({ error: 'run_active', runId: first.json().runId });
  }
});

it('the same key with a different body is a 422 naming the header; nothing is started', async () => {
  await seedFeedback('agent-ti-2', 10);
  const first = await post(train('agent-ti-2'), body, 'train-key-2');
  expect(first.statusCode).toBe(202);
  startedWorkflows.push(first.json().workflowId);
  const changed = await post(train('agent-ti-2'), { ...body, maxSteps: 4 }, 'train-key-2');
  expect(changed.statusCode).toBe(422);
  expect(changed.json()).toMatchObject({ error: 'idempotency_key_reused', field: 'idempotency-key' });
  expect(await runRows('agent-ti-2')).toHaveLength(1);
});

it('a retry whose first attempt started the workflow but lost its commit gets that run, not a second one', async () => {
  await seedFeedback('agent-ti-3', 10);
  const first = await post(train('agent-ti-3'), body, 'train-key-3');
  expect(first.statusCode).toBe(202);
  startedWorkflows.push(first.json().workflowId);
  // What a COMMIT lost after the workflow start leaves: the workflow, and neither the row nor the key's record.
  const connection = db.orm.em.fork().getConnection();
  await connection.execute(`delete from idempotency_record where key = ?`, ['train-key-3']);
  await connection.execute(`delete from training_run where agent_id = ?`, ['agent-ti-3']);

  const retry = await post(train('agent-ti-3'), body, 'train-key-3');
  expect(retry.statusCode).toBe(202);
  expect(retry.json().runId).toBe(first.json().runId);
  expect(retry.headers['idempotent-replayed']).toBeUndefined();
  expect(await runRows('agent-ti-3')).toEqual([{ id: first.json().runId, status: 'queued' }]);
  const executions: string[] = [];
  for await (const execution of app.temporal.workflow.list({ query: `WorkflowId = '${first.json().workflowId}'` })) executions.push(execution.runId);
  expect(executions).toHaveLength(1);
});

it('two concurrent requests with one key start one run and both answer it', async () => {
  await seedFeedback('agent-ti-4', 10);
  const answers = await Promise.all([post(train('agent-ti-4'), body, 'train-key-4'), post(train('agent-ti-4'), body, 'train-key-4')]);
  for (const answer of answers) expect(answer.statusCode).toBe(202);
  startedWorkflows.push(answers[0].json().workflowId);
  expect(answers[1].json().runId).toBe(answers[0].json().runId);
  expect(await runRows('agent-ti-4')).toHaveLength(1);
});
