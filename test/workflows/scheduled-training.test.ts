/**
 * Scheduled retraining (issue 14 item 5) end to end: the schedule routes, a real Temporal Schedule
 * on the dev server, the scheduled workflow and its gate activity on a real CPU worker, and real
 * Postgres. Most actions are taken with the trigger route (the schedule's own cron falls on 1 January),
 * so nothing waits on a clock; one test lets a 2-second interval fire by itself (issue 14: "test it
 * with a short interval on the real dev server"), polling without a timing assertion. No worker polls the GPU queue: a started run stays open at its
 * first training activity, which is what lets the overlap checks see an open run deterministically;
 * each test then cancels its run through the API.
 *
 * Must show (issue 14): it fires, it skips on too little new feedback, and it never overlaps.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createDataActivities } from '../../activities';
import { runEventLog } from '../../activities/run-events';
import { buildApp } from '../../api/app';
import { scheduleIdOf } from '../../api/training-schedules';
import { loadEnv } from '../../common/env';
import { createRepositories } from '../../db/repositories';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { LocalArtifactStore } from '../../storage/artifact-store';
import type { ScheduledTrainingResult } from '../../contract/schedule-contract';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { connectTestEnv, eventually, silentActivityLog, uniqueId, uniqueQueues, workflowBundle } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let root: string;
let store: LocalArtifactStore;
let app: FastifyInstance;
let auth: TestProjectKey;
const queues = uniqueQueues();
const agents: string[] = [];

beforeAll(async () => {
  env = await connectTestEnv();
  db = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), 'scheduled-training-'));
  store = new LocalArtifactStore(root);
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url, ARTIFACT_ROOT: root }), taskQueues: queues }, false);
  auth = await createTestProjectKey(db.orm);
});

afterAll(async () => {
  for (const agentId of agents) await app?.temporal.schedule.getHandle(scheduleIdOf(agentId)).delete().catch(() => undefined);
  await app?.close();
  await db?.dispose();
  await env?.teardown();
  await rm(root, { recursive: true, force: true });
});

/** The CPU worker (workflows + data activities, the gate among them) on this file's queue while `fn` runs. */
async function withCpuWorker<T>(fn: () => Promise<T>): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace,
    taskQueue: queues.cpu,
    workflowBundle: await workflowBundle(),
    activities: createDataActivities({ orm: db.orm, store, log: silentActivityLog, runEvents: runEventLog(db.orm) }),
  });
  return worker.runUntil(fn);
}

function call(method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: object) {
  return app.inject({ method, url, ...(payload === undefined ? {} : { payload }), headers: auth.headers });
}

let seed = 1;
async function addFeedback(agentId: string, n: number): Promise<void> {
  const items = makeSyntheticFeedback(n, new Rng(seed++)).map((r) => ({ ...r, runId: 'sched-e2e' }));
  expect((await call('POST', `/api/policies/feedback/${agentId}/batch`, { items })).statusCode).toBe(201);
}

async function newAgent(rows: number): Promise<string> {
  const agentId = uniqueId('sched-agent');
  agents.push(agentId);
  await addFeedback(agentId, rows);
  return agentId;
}

const schedule = (agentId: string) => `/api/policies/${agentId}/schedule`;
const YEARLY = '0 0 1 1 *';

interface ActionView {
  workflowId: string;
  takenAt: string;
  workflowStatus: string | null;
  decision: (Record<string, unknown> & { outcome: string; runId?: string }) | null;
}
interface ScheduleViewBody {
  actionsTaken: number;
  skippedOverlap: number;
  runningActions: string[];
  recentActions: ActionView[];
}

async function view(agentId: string): Promise<ScheduleViewBody> {
  const res = await call('GET', schedule(agentId));
  expect(res.statusCode).toBe(200);
  return res.json();
}

/**
 * The view while polling: undefined on a 503 (Temporal past the API's RPC deadline on a loaded
 * machine: the answer says "retry", and the poll does).
 */
async function viewWhilePolling(agentId: string): Promise<ScheduleViewBody | undefined> {
  const res = await call('GET', schedule(agentId));
  if (res.statusCode === 503) return undefined;
  expect(res.statusCode).toBe(200);
  return res.json();
}

/**
 * Takes one action through the API and waits for its decision. Temporal names a triggered action
 * by its schedule and the second it was taken, so a second trigger first lets the wall clock pass
 * the previous action's second (an ordering wait, not a timing assertion).
 */
async function triggerAndDecide(agentId: string): Promise<ActionView> {
  const before = await view(agentId);
  const last = before.recentActions[0];
  if (last) await eventually(async () => (Math.floor(Date.now() / 1000) > Math.floor(Date.parse(last.takenAt) / 1000) ? true : undefined), 'the next second', 5_000);
  expect((await call('POST', `${schedule(agentId)}/trigger`)).statusCode).toBe(202);
  return eventually(async () => {
    const [newest] = (await view(agentId)).recentActions;
    return newest && newest.workflowId !== last?.workflowId && newest.decision ? newest : undefined;
  }, 'the action\'s decision');
}

async function runRows(agentId: string): Promise<{ id: string; status: string }[]> {
  return db.orm.em.fork().getConnection().execute('select id, status from training_run where agent_id = ? order by created_at', [agentId]);
}

/** Cancels a run through the API and waits until its action (if any) has closed. */
async function cancelRun(agentId: string, runId: string): Promise<void> {
  expect((await call('POST', `/api/runs/${runId}/cancel`)).statusCode).toBe(202);
  await eventually(async () => ((await runRows(agentId)).find((r) => r.id === runId)?.status === 'cancelled' ? true : undefined), `run ${runId} cancelled`);
  await eventually(async () => ((await view(agentId)).runningActions.length === 0 ? true : undefined), 'the action to close');
}

it('fires: a triggered action starts a training run like train_policy, and a trigger while it is open is skipped (never overlaps)', async () => {
  const agentId = await newAgent(40);
  expect((await call('PUT', schedule(agentId), { cron: YEARLY, minNewFeedback: 5, preset: 'quick', maxSteps: 2, seed: 7 })).statusCode).toBe(201);

  await withCpuWorker(async () => {
    const action = await triggerAndDecide(agentId);
    expect(action.decision).toMatchObject({ outcome: 'started', feedbackCount: 40, newFeedback: 40, sinceVersion: null });
    const runId = String(action.decision?.runId);

    // The run is an ordinary run: its row, the usual workflow id, visible through the runs API.
    const run = await call('GET', `/api/runs/${runId}`);
    expect(run.statusCode).toBe(200);
    expect(run.json()).toMatchObject({ runId, agentId, workflowId: `train-${runId}`, config: { preset: 'quick', maxSteps: 2, seed: 7, trigger: 'schedule' } });
    expect((await app.temporal.workflow.getHandle(`train-${runId}`).describe()).status.name).toBe('RUNNING');
    expect((await view(agentId)).runningActions).toEqual([action.workflowId]);

    // A trigger while the action (and so its run) is open: the schedule's SKIP policy drops it.
    expect((await call('POST', `${schedule(agentId)}/trigger`)).statusCode).toBe(202);
    const afterSkip = await eventually(async () => {
      const v = await view(agentId);
      return v.skippedOverlap >= 1 ? v : undefined;
    }, 'the overlapping trigger to be skipped');
    expect(afterSkip).toMatchObject({ skippedOverlap: 1, actionsTaken: 1, runningActions: [action.workflowId] });
    expect(afterSkip.recentActions).toHaveLength(1);
    expect(await runRows(agentId)).toEqual([{ id: runId, status: expect.stringMatching(/^(queued|running)$/) }]);

    await cancelRun(agentId, runId);
    const result = (await app.temporal.workflow.getHandle(action.workflowId).result()) as ScheduledTrainingResult;
    expect(result).toMatchObject({ outcome: 'started', runId, runEnded: 'cancelled' });
  });
});

it('skips on too little new feedback since the newest version, records why, and starts once enough arrived', async () => {
  const agentId = await newAgent(30);
  // A finished earlier run whose version trained on those 30 rows.
  const repos = createRepositories(db.orm.em.fork());
  const earlier = `run_${uniqueId('seeded').replace(/-/g, '_')}`;
  await repos.trainingRuns.create({ id: earlier, workflowId: `train-${earlier}`, agentId, config: { preset: 'quick' } });
  await repos.trainingRuns.setStatus(earlier, 'completed');
  await repos.policyVersions.saveForRun({ agentId, trainingRunId: earlier, modelKey: 'm', rewardModelKey: 'r', feedbackCount: 30, rewardMean: 0, rewardStd: 1, metrics: {} });
  await addFeedback(agentId, 3);
  expect((await call('PUT', schedule(agentId), { every: '1d', minNewFeedback: 5, preset: 'quick', maxSteps: 2 })).statusCode).toBe(201);

  await withCpuWorker(async () => {
    const skipped = await triggerAndDecide(agentId);
    expect(skipped.decision).toEqual({
      outcome: 'skipped',
      reason: 'too_little_new_feedback',
      message: '3 new feedback rows since version v1; the schedule needs minNewFeedback 5',
      feedbackCount: 33,
      newFeedback: 3,
      sinceVersion: 'v1',
    });
    const result = (await app.temporal.workflow.getHandle(skipped.workflowId).result()) as ScheduledTrainingResult;
    expect(result).toMatchObject({ outcome: 'skipped', reason: 'too_little_new_feedback' });
    expect(await runRows(agentId)).toEqual([{ id: earlier, status: 'completed' }]);

    await addFeedback(agentId, 2);
    const started = await triggerAndDecide(agentId);
    expect(started.decision).toMatchObject({ outcome: 'started', feedbackCount: 35, newFeedback: 5, sinceVersion: 'v1' });
    const runId = String(started.decision?.runId);
    expect((await runRows(agentId)).map((r) => r.id)).toEqual([earlier, runId]);
    // GET lists both actions, newest first, each with its decision.
    expect((await view(agentId)).recentActions.map((a) => a.decision?.outcome)).toEqual(['started', 'skipped']);
    await cancelRun(agentId, runId);
  });
});

it('never overlaps a run started by train_policy: the action skips, naming the active run (unless its workflow is gone)', async () => {
  const agentId = await newAgent(40);
  const trained = await call('POST', `/api/policies/train_policy/${agentId}`, { preset: 'quick', maxSteps: 2 });
  expect(trained.statusCode).toBe(202);
  const runId = String(trained.json().runId);
  expect((await call('PUT', schedule(agentId), { cron: YEARLY, minNewFeedback: 1 })).statusCode).toBe(201);

  await withCpuWorker(async () => {
    const action = await triggerAndDecide(agentId);
    expect(action.decision).toMatchObject({ outcome: 'skipped', reason: 'run_active', activeRunId: runId, newFeedback: null });
    expect(await runRows(agentId)).toEqual([{ id: runId, status: expect.stringMatching(/^(queued|running)$/) }]);

    // That run's workflow is terminated behind the database's back (from the Temporal UI, say): its row
    // still says active, but the gate brings it in line instead of skipping forever.
    await app.temporal.workflow.getHandle(`train-${runId}`).terminate('terminated outside the API');
    const next = await triggerAndDecide(agentId);
    expect(next.decision).toMatchObject({ outcome: 'started', newFeedback: 40 });
    const rows = await runRows(agentId);
    expect(rows).toEqual([
      { id: runId, status: 'failed' },
      { id: next.decision?.runId, status: expect.stringMatching(/^(queued|running)$/) },
    ]);
    await cancelRun(agentId, String(next.decision?.runId));
  });
});

it('fires by itself on a short interval: the first due action starts a run, later due actions are skipped while it is open', async () => {
  const agentId = await newAgent(40);

  await withCpuWorker(async () => {
    // The worker polls before the schedule exists, so the first due action is decided as soon as it is taken.
    expect((await call('PUT', schedule(agentId), { every: '2s', minNewFeedback: 5, preset: 'quick', maxSteps: 2, seed: 3 })).statusCode).toBe(201);

    const started = await eventually(async () => {
      const action = (await viewWhilePolling(agentId))?.recentActions.find((a) => a.decision?.outcome === 'started');
      return action?.decision?.runId ? action : undefined;
    }, 'the first due action to start a run');
    expect(started.decision).toMatchObject({ outcome: 'started', feedbackCount: 40, newFeedback: 40, sinceVersion: null });
    const runId = String(started.decision?.runId);
    const run = await call('GET', `/api/runs/${runId}`);
    expect(run.statusCode).toBe(200);
    expect(run.json()).toMatchObject({ runId, agentId, config: { preset: 'quick', maxSteps: 2, seed: 3, trigger: 'schedule' } });

    // Later due times come while that action (and so its run) is open: the SKIP overlap policy drops them,
    // or, should one be taken, its gate skips it as run_active. Either way there is one run.
    const afterOverlap = await eventually(async () => {
      const v = await viewWhilePolling(agentId);
      if (!v) return undefined;
      return v.skippedOverlap > 0 || v.recentActions.some((a) => a.decision?.reason === 'run_active') ? v : undefined;
    }, 'a later due action to be skipped for overlap');
    expect(afterOverlap.recentActions.filter((a) => a.decision?.outcome === 'started')).toHaveLength(1);
    expect(await runRows(agentId)).toEqual([{ id: runId, status: expect.stringMatching(/^(queued|running)$/) }]);

    // The schedule goes first, so no due action can start a second run once this one is cancelled.
    expect((await call('DELETE', schedule(agentId))).statusCode).toBe(204);
    expect((await call('GET', schedule(agentId))).statusCode).toBe(404);
    expect((await call('POST', `/api/runs/${runId}/cancel`)).statusCode).toBe(202);
    const result = (await app.temporal.workflow.getHandle(started.workflowId).result()) as ScheduledTrainingResult;
    expect(result).toMatchObject({ outcome: 'started', runId, runEnded: 'cancelled' });
    await eventually(async () => ((await runRows(agentId)).every((r) => r.id === runId && r.status === 'cancelled') ? true : undefined), `run ${runId} cancelled`);
    expect(await runRows(agentId)).toEqual([{ id: runId, status: 'cancelled' }]);
  });
});
