/**
 * The training workflow end to end on the real dev server, with the REAL activities (tiny
 * models, see TINY_CONFIG_PATCH), a database per file and a temp artifact store. Each test
 * has its own workflow id, agent and task queues.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkflowFailedError, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { runArtifacts } from '../../storage/artifact-keys';
import { MetricKeys, RunPhases, SearchAttributeKeys } from '../../common/names';
import { FeedbackRepository, PolicyVersionRepository, TrainingRunRepository } from '../../db/repositories';
import { findLatestVerified } from '../../ml/checkpoint';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { readTrainingResults } from '../../ml/training-results';
import { LocalArtifactStore, policyKey } from '../../storage/artifact-store';
import { trainingWorkflowType, TrainingFailureTypes, type ConfigPatch, type RunProgress, type TrainPolicyInput, type TrainPolicyResult } from '../../contract/run-contract';
import { progressQuery, pauseSignal, resumeSignal, setKlSignal } from '../../workflows/messages';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { connectTestEnv, eventually, TINY_CONFIG_PATCH, uniqueId, uniqueQueues, withWorkers, type TestQueues } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let root: string;
let store: LocalArtifactStore;

beforeAll(async () => {
  env = await connectTestEnv();
  db = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), 'training-run-'));
  store = new LocalArtifactStore(root);
});

afterAll(async () => {
  await db?.dispose();
  await env?.teardown();
  await rm(root, { recursive: true, force: true });
});

interface StartedRun {
  runId: string;
  agentId: string;
  handle: WorkflowHandleWithFirstExecutionRunId;
}

/** Seeds an agent's feedback and its run record (as the API does), then starts the workflow. */
async function startRun(
  queues: TestQueues,
  opts: { patch: ConfigPatch; rows: { prompt: string; response: string; score: number }[]; chunksPerExecution?: number; trainingHeartbeatTimeoutMs?: number },
): Promise<StartedRun> {
  const runId = uniqueId('run').replace(/-/g, '_');
  const agentId = uniqueId('agent');
  await new FeedbackRepository(db.orm.em.fork()).insertMany(opts.rows.map((r) => ({ ...r, agentId, runId: 'seed' })));
  const workflowId = `train-${runId}`;
  await new TrainingRunRepository(db.orm.em.fork()).create({ id: runId, workflowId, agentId, config: {} });
  const input: TrainPolicyInput = {
    runId,
    agentId,
    preset: 'quick',
    seed: 21,
    configPatch: opts.patch,
    taskQueues: queues,
    chunksPerExecution: opts.chunksPerExecution,
    trainingHeartbeatTimeoutMs: opts.trainingHeartbeatTimeoutMs,
  };
  const handle = await env.client.workflow.start(trainingWorkflowType, { workflowId, taskQueue: queues.cpu, args: [input] });
  return { runId, agentId, handle };
}

const progressOf = (run: StartedRun): Promise<RunProgress> => run.handle.query(progressQuery);
const statusOf = async (run: StartedRun) => (await new TrainingRunRepository(db.orm.em.fork()).get(run.runId))?.status;
const learnable = (seed: number) => makeSyntheticFeedback(40, new Rng(seed));

/** heartbeatTimeout in seconds (null: none) of every activity type the run scheduled, from its history. */
async function scheduledHeartbeatTimeouts(run: StartedRun): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  for (const event of (await run.handle.fetchHistory()).events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (!scheduled?.activityType?.name) continue;
    const timeout = scheduled.heartbeatTimeout;
    out[scheduled.activityType.name] = timeout && (Number(timeout.seconds ?? 0) > 0 || (timeout.nanos ?? 0) > 0) ? Number(timeout.seconds ?? 0) + (timeout.nanos ?? 0) / 1e9 : null;
  }
  return out;
}

it('runs to a saved version through pause, setKl, resume and continue-as-new, answering progress throughout', async () => {
  const queues = uniqueQueues();
  // TRL's fixed horizon, so β stays at the signalled 0.05 (the default derives the horizon from the
  // plan, and over 6 updates β then moves by tens of percent, which is what it is for).
  const patch = { ...TINY_CONFIG_PATCH, ppo: { ...TINY_CONFIG_PATCH.ppo, totalUpdates: 6, klHorizon: 10000 } };
  await withWorkers(env, { orm: db.orm, store, queues }, async () => {
    const run = await startRun(queues, { patch, rows: learnable(1), chunksPerExecution: 1 });
    const firstRunId = run.handle.firstExecutionRunId;
    await run.handle.signal(pauseSignal);
    expect((await progressOf(run)).runId).toBe(run.runId);

    // Paused before the first chunk: the run record says so and progress shows the prepared run.
    await eventually(async () => ((await statusOf(run)) === 'paused' ? true : undefined), 'the first pause');
    const paused = await progressOf(run);
    expect(paused).toMatchObject({ phase: RunPhases.ppo, paused: true, step: 0, total: 6, lastCheckpoint: null, klCoef: 0.2, klTarget: 6 });
    expect(paused.rewardModel?.valMse).toEqual(expect.any(Number));

    await run.handle.signal(setKlSignal, { coef: 0.05, target: 3 });
    expect(await progressOf(run)).toMatchObject({ klCoef: 0.05, klTarget: 3 });
    await run.handle.signal(resumeSignal);

    // Pause again once the first chunk is done: it takes effect after the chunk in flight.
    await eventually(async () => ((await progressOf(run)).lastCheckpoint ? true : undefined), 'the first chunk');
    await run.handle.signal(pauseSignal);
    await eventually(async () => ((await statusOf(run)) === 'paused' ? true : undefined), 'the second pause');
    const midway = await progressOf(run);
    // The pause lands at a chunk boundary: after the chunk in flight (step 4), or, when the signal
    // reaches the continued-as-new execution before it schedules its chunk, at step 2. Either way the
    // run holds there: no progress while paused.
    expect(midway).toMatchObject({ phase: RunPhases.ppo, paused: true, total: 6, klTarget: 3 });
    expect([2, 4]).toContain(midway.step);
    expect(midway.lastCheckpoint?.update).toBe(midway.step);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await progressOf(run)).step).toBe(midway.step);
    expect(midway.etaMs).toBeGreaterThan(0);
    expect(midway.latestMetrics?.[MetricKeys.klCoef]).toBeCloseTo(0.05, 3);
    await run.handle.signal(resumeSignal);

    const result = (await run.handle.result()) as TrainPolicyResult;
    expect(result).toMatchObject({ status: 'trained', runId: run.runId, version: 'v1', feedbackCount: 40, trainingSteps: 6 });
    const done = await progressOf(run);
    expect(done).toMatchObject({ phase: RunPhases.completed, step: 6, total: 6, etaMs: 0, lastCheckpoint: { update: 6 } });
    const description = await run.handle.describe();
    expect(description.runId).not.toBe(firstRunId);
    expect(description.searchAttributes[SearchAttributeKeys.runPhase]).toEqual([RunPhases.completed]);

    const versions = await new PolicyVersionRepository(db.orm.em.fork()).listByAgent(run.agentId);
    expect(versions.map((v) => [v.version, v.trainingRunId, v.modelKey])).toEqual([['v1', run.runId, result.modelKey]]);
    expect((await readdir(store.resolve(policyKey(run.agentId, 'v1')))).sort()).toEqual(['policy', 'reward_model', 'training_results.json']);
    const results = await readTrainingResults(store.resolve(policyKey(run.agentId, 'v1')));
    expect(results.ppo.history).toHaveLength(6);
    expect(results.ppo.history[0][MetricKeys.klCoef]).toBe(0.05);
    expect(await statusOf(run)).toBe('completed');
    // Retention (issue 17): with the version saved, the run's copy of the feedback and its
    // checkpoints are gone; the saved version and the reward model the run trained remain.
    expect(await store.exists(runArtifacts.datasetDir(run.runId))).toBe(false);
    expect(await store.exists(runArtifacts.checkpoints(run.runId))).toBe(false);
    expect(await store.exists(runArtifacts.rewardModel(run.runId))).toBe(true);
  });
});

it('a cancelled run is marked cancelled and keeps its last checkpoint', async () => {
  const queues = uniqueQueues();
  const patch = { ...TINY_CONFIG_PATCH, ppo: { ...TINY_CONFIG_PATCH.ppo, totalUpdates: 8 } };
  await withWorkers(env, { orm: db.orm, store, queues }, async () => {
    const run = await startRun(queues, { patch, rows: learnable(2) });
    await eventually(async () => ((await progressOf(run)).lastCheckpoint ? true : undefined), 'a PPO checkpoint');
    await run.handle.cancel();
    const failure = await run.handle.result().then(
      () => null,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause?.name).toBe('CancelledFailure');
    expect(await statusOf(run)).toBe('cancelled');
    expect((await progressOf(run)).phase).toBe(RunPhases.cancelled);
    const latest = await findLatestVerified(store.resolve(runArtifacts.checkpoints(run.runId)));
    expect(latest?.update).toBeGreaterThanOrEqual(2);
    // No input override: training activities get the default heartbeatTimeout, data activities none.
    expect(await scheduledHeartbeatTimeouts(run)).toMatchObject({ trainRewardModel: 10, sftWarmStart: 10, ppoChunk: 10, loadFeedback: null });
    expect(await new PolicyVersionRepository(db.orm.em.fork()).listByAgent(run.agentId)).toEqual([]);
  });
});

it('the quality gate fails a run on pure-noise feedback, naming the Pearson and the threshold', async () => {
  const queues = uniqueQueues();
  const patch = { ...TINY_CONFIG_PATCH, gate: { minValPearson: 0.3 } };
  const noise = makeSyntheticFeedback(60, new Rng(3), { scoreNoiseOnly: true });
  await withWorkers(env, { orm: db.orm, store, queues }, async () => {
    const run = await startRun(queues, { patch, rows: noise });
    const failure = await run.handle.result().then(
      () => null,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause as { type?: string; message: string; nonRetryable?: boolean };
    expect(cause).toMatchObject({ type: TrainingFailureTypes.qualityGateFailed, nonRetryable: true });
    expect(cause.message).toMatch(/Pearson -?\d\.\d{3} < threshold 0\.3/);
    const record = await new TrainingRunRepository(db.orm.em.fork()).get(run.runId);
    expect(record).toMatchObject({ status: 'failed', error: expect.stringContaining('quality gate') });
    expect((await progressOf(run)).phase).toBe(RunPhases.failed);
  });
});

it('schedules the training activities with the heartbeatTimeout of the workflow input', async () => {
  const queues = uniqueQueues();
  const noise = makeSyntheticFeedback(60, new Rng(3), { scoreNoiseOnly: true }); // stops at the quality gate, after the reward model
  await withWorkers(env, { orm: db.orm, store, queues }, async () => {
    const run = await startRun(queues, { patch: { ...TINY_CONFIG_PATCH, gate: { minValPearson: 0.3 } }, rows: noise, trainingHeartbeatTimeoutMs: 7_000 });
    await run.handle.result().catch(() => undefined);
    expect(await scheduledHeartbeatTimeouts(run)).toEqual({ resolveConfig: null, setRunStatus: null, loadFeedback: null, splitDataset: null, trainRewardModel: 7 });
  });
});
