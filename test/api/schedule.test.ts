/**
 * The retraining-schedule routes (issue 14 item 5) through app.inject, against real Postgres and
 * a real Temporal Schedule on the dev server: create, read, replace, pause/unpause, delete, and
 * the 4xx answers, each naming the field. No worker: the one action taken here (a trigger while
 * paused) stays open until cleanup; the scheduled runs themselves are test/workflows/scheduled-training.test.ts.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { scheduleIdOf } from '../../api/training-schedules';
import { loadEnv } from '../../common/env';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { eventually, uniqueId, uniqueQueues } from '../helpers/temporal';

let db: TestDatabase;
let app: FastifyInstance;
let auth: TestProjectKey;
let other: TestProjectKey;
const agents: string[] = [];
const openActions: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url }), taskQueues: uniqueQueues() }, false);
  auth = await createTestProjectKey(db.orm);
  other = await createTestProjectKey(db.orm);
});
afterAll(async () => {
  for (const id of openActions) await app.temporal.workflow.getHandle(id).terminate('test cleanup').catch(() => undefined);
  for (const agentId of agents) await app.temporal.schedule.getHandle(scheduleIdOf(agentId)).delete().catch(() => undefined);
  await app.close();
  await db.dispose();
});

function call(method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: object, key: TestProjectKey = auth) {
  return app.inject({ method, url, ...(payload === undefined ? {} : { payload }), headers: key.headers });
}

/** An agent of `auth`'s project (it exists once it has feedback). */
async function newAgent(): Promise<string> {
  const agentId = uniqueId('sched-api');
  agents.push(agentId);
  const items = [{ prompt: 'q', response: 'a', score: 1, runId: 'rt-1' }];
  expect((await call('POST', `/api/policies/feedback/${agentId}/batch`, { items })).statusCode).toBe(201);
  return agentId;
}

const schedule = (agentId: string) => `/api/policies/${agentId}/schedule`;
// 1 January only: no action falls due while a test runs.
const YEARLY = '0 0 1 1 *';

it('PUT creates (201) and replaces (200) the schedule; GET shows it with its next action time; DELETE removes it', async () => {
  const agentId = await newAgent();
  const created = await call('PUT', schedule(agentId), { cron: YEARLY, minNewFeedback: 50, preset: 'quick', maxSteps: 8, seed: 3 });
  expect(created.statusCode).toBe(201);
  expect(created.json()).toMatchObject({
    scheduleId: scheduleIdOf(agentId),
    agentId,
    cron: YEARLY,
    minNewFeedback: 50,
    preset: 'quick',
    maxSteps: 8,
    seed: 3,
    paused: false,
    actionsTaken: 0,
    skippedOverlap: 0,
    runningActions: [],
    recentActions: [],
  });
  const [next] = created.json().nextActionTimes as string[];
  expect(new Date(next).toISOString()).toMatch(/-01-01T00:00:00\.000Z$/);
  // Overlap policy SKIP is what makes "never two runs at once" hold for due actions.
  const described = await app.temporal.schedule.getHandle(scheduleIdOf(agentId)).describe();
  expect(described.policies.overlap).toBe('SKIP');

  const replaced = await call('PUT', schedule(agentId), { every: '6h', minNewFeedback: 10 });
  expect(replaced.statusCode).toBe(200);
  expect(replaced.json()).toMatchObject({ every: '6h', minNewFeedback: 10, preset: 'quick' });
  expect(replaced.json()).not.toHaveProperty('cron');
  expect(replaced.json()).not.toHaveProperty('maxSteps');
  expect((await call('GET', schedule(agentId))).json()).toEqual({ ...replaced.json(), nextActionTimes: expect.any(Array) });

  expect((await call('DELETE', schedule(agentId))).statusCode).toBe(204);
  const gone = await call('GET', schedule(agentId));
  expect(gone.statusCode).toBe(404);
  expect(gone.json()).toMatchObject({ error: 'not_found', field: 'agentId' });
  expect((await call('DELETE', schedule(agentId))).statusCode).toBe(404);
  // Every action on a deleted schedule is a 404 naming agentId, never a 500 (found by test/security/fuzz).
  for (const action of ['pause', 'unpause', 'trigger']) {
    const res = await call('POST', `${schedule(agentId)}/${action}`, {});
    expect({ action, status: res.statusCode, body: res.json() }).toEqual({ action, status: 404, body: expect.objectContaining({ error: 'not_found', field: 'agentId' }) });
  }
});

it('pause and unpause; a replaced schedule keeps its pause', async () => {
  const agentId = await newAgent();
  expect((await call('PUT', schedule(agentId), { cron: YEARLY, minNewFeedback: 1 })).statusCode).toBe(201);
  const paused = await call('POST', `${schedule(agentId)}/pause`);
  expect(paused.statusCode).toBe(200);
  expect(paused.json()).toMatchObject({ paused: true, note: 'paused through the API' });
  expect((await call('PUT', schedule(agentId), { cron: YEARLY, minNewFeedback: 2 })).json()).toMatchObject({ paused: true, minNewFeedback: 2 });
  // A trigger takes an action even while paused (no worker polls this file's queue: it stays open until cleanup).
  expect((await call('POST', `${schedule(agentId)}/trigger`)).statusCode).toBe(202);
  const triggered = await eventually(async () => {
    const v = (await call('GET', schedule(agentId))).json();
    return v.actionsTaken === 1 ? v : undefined;
  }, 'the triggered action');
  expect(triggered.runningActions).toHaveLength(1);
  openActions.push(...(triggered.runningActions as string[]));
  const unpaused = await call('POST', `${schedule(agentId)}/unpause`);
  expect(unpaused.statusCode).toBe(200);
  expect(unpaused.json()).toMatchObject({ paused: false });
});

it('refuses bad requests with a 4xx naming the field', async () => {
  const agentId = await newAgent();
  const cases: Array<[object, string]> = [
    [{ minNewFeedback: 5 }, 'cron'],
    [{ cron: YEARLY, every: '1h', minNewFeedback: 5 }, 'every'],
    [{ cron: 'every tuesday-ish', minNewFeedback: 5 }, 'cron'],
    [{ every: '5 minutes', minNewFeedback: 5 }, 'every'],
    [{ every: '1h' }, 'minNewFeedback'],
    [{ every: '1h', minNewFeedback: 0 }, 'minNewFeedback'],
    [{ every: '1h', minNewFeedback: 5, preset: 'huge' }, 'preset'],
    [{ every: '1h', minNewFeedback: 5, maxSteps: 0 }, 'maxSteps'],
    [{ every: '1h', minNewFeedback: 5, baseModelDir: 'gpt2' }, 'baseModelDir'],
  ];
  for (const [body, field] of cases) {
    const res = await call('PUT', schedule(agentId), body);
    expect({ body, status: res.statusCode, field: res.json().field }).toEqual({ body, status: 400, field });
  }
  // Nothing was created by the refused requests.
  expect((await call('GET', schedule(agentId))).statusCode).toBe(404);
});

it('another project\'s agent, and an unknown one, is a 404 on every route', async () => {
  const agentId = await newAgent();
  expect((await call('PUT', schedule(agentId), { cron: YEARLY, minNewFeedback: 1 })).statusCode).toBe(201);
  for (const [method, suffix, body] of [
    ['GET', '', undefined],
    ['PUT', '', { cron: YEARLY, minNewFeedback: 1 }],
    ['DELETE', '', undefined],
    ['POST', '/pause', undefined],
    ['POST', '/unpause', undefined],
    ['POST', '/trigger', undefined],
  ] as const) {
    for (const [agent, key] of [[agentId, other], ['no-such-agent', auth]] as const) {
      const res = await call(method, `${schedule(agent)}${suffix}`, body, key);
      expect({ method, suffix, status: res.statusCode, field: res.json().field }).toEqual({ method, suffix, status: 404, field: 'agentId' });
    }
  }
  // The owner still sees it unchanged.
  expect((await call('GET', schedule(agentId))).json()).toMatchObject({ paused: false, minNewFeedback: 1 });
});
