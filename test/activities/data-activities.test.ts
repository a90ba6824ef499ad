/**
 * The data activities against a real Postgres database (one per file) and a real artifact
 * store: config resolution and its validation, the feedback snapshot and split, the run
 * status, and savePolicy's idempotence (a retried save, even after a failed partial
 * attempt, leaves exactly one PolicyVersion row and one version directory).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDataActivities } from '../../activities';
import { type SavePolicyInput } from '../../activities/data';
import { runArtifacts } from '../../storage/artifact-keys';
import { readJsonl } from '../../activities/jsonl';
import { MetricKeys, type UpdateMetrics } from '../../common/names';
import { FeedbackRepository, PolicyVersionRepository, TrainingRunRepository } from '../../db/repositories';
import type { FeedbackExample } from '../../spec/train-val-split';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { readTrainingResults } from '../../ml/training-results';
import { LocalArtifactStore, policyKey } from '../../storage/artifact-store';
import { TrainingFailureTypes } from '../../contract/run-contract';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { runInActivityEnv, silentActivityLog, TINY_CONFIG_PATCH } from '../helpers/temporal';

let db: TestDatabase;
let root: string;
let store: LocalArtifactStore;
let data: ReturnType<typeof createDataActivities>;

const run = runInActivityEnv;

beforeAll(async () => {
  db = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), 'data-activities-'));
  store = new LocalArtifactStore(root);
  data = createDataActivities({ orm: db.orm, store, log: silentActivityLog });
});

afterAll(async () => {
  await db?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('resolveConfig', () => {
  it('stores the patched config and returns the plan; the patch applies after the overrides', async () => {
    const plan = await run(data.resolveConfig, { runId: 'run_cfg', preset: 'quick', maxSteps: 6, seed: 5, configPatch: TINY_CONFIG_PATCH });
    expect(plan).toMatchObject({ totalUpdates: 4, updatesPerChunk: 2, minValPearson: -1, klCoef: 0.2, klTarget: 6 });
    const stored = await store.readJson<{ seed: number; policyModel: { nEmbd: number }; ppo: { totalUpdates: number } }>(plan.configRef);
    expect(stored.policyModel.nEmbd).toBe(16);
    expect(stored.ppo.totalUpdates).toBe(4);
    expect(stored.seed).toBe(5);
  });

  it.each([
    ['an unknown field', { ppo: { totalUpdate: 3 } }],
    ['a value of the wrong type', { ppo: { batchSize: 'four' } }],
    ['an inconsistent size', { ppo: { batchSize: 6, miniBatchSize: 4 } }],
  ])('rejects %s as a non-retryable InvalidConfig', async (_what, configPatch) => {
    await expect(run(data.resolveConfig, { runId: 'run_cfg_bad', preset: 'quick', configPatch })).rejects.toMatchObject({
      type: TrainingFailureTypes.invalidConfig,
      nonRetryable: true,
    });
  });

  it('rejects an unknown preset', async () => {
    await expect(run(data.resolveConfig, { runId: 'run_cfg_bad', preset: 'huge' })).rejects.toMatchObject({ type: TrainingFailureTypes.invalidConfig });
  });
});

describe('loadFeedback and splitDataset', () => {
  it('snapshots the agent’s rows and splits them 80/20 with the run seed', async () => {
    const rows = makeSyntheticFeedback(25, new Rng(3));
    await new FeedbackRepository(db.orm.em.fork()).insertMany(rows.map((r) => ({ ...r, agentId: 'agent-load', runId: 'r1' })));
    const plan = await run(data.resolveConfig, { runId: 'run_load', preset: 'quick' });
    const loaded = await run(data.loadFeedback, { runId: 'run_load', agentId: 'agent-load' });
    expect(loaded.count).toBe(25);
    const mean = rows.reduce((s, r) => s + r.score, 0) / rows.length;
    expect(loaded.scoreMean).toBeCloseTo(mean, 10);
    const split = await run(data.splitDataset, { runId: 'run_load', datasetRef: loaded.datasetRef, configRef: plan.configRef });
    expect([split.trainCount, split.valCount]).toEqual([20, 5]);
    const train = await readJsonl<FeedbackExample>(store, split.trainRef);
    const val = await readJsonl<FeedbackExample>(store, split.valRef);
    const key = (r: FeedbackExample) => `${r.prompt}|${r.response}|${r.score}`;
    expect([...train, ...val].map(key).sort()).toEqual(rows.map(key).sort());
    // Same seed, same split: a retried attempt writes the same files.
    const again = await run(data.splitDataset, { runId: 'run_load', datasetRef: loaded.datasetRef, configRef: plan.configRef });
    expect(await readJsonl<FeedbackExample>(store, again.valRef)).toEqual(val);
  });

  it('refuses fewer than 10 rows as non-retryable InvalidFeedback', async () => {
    const rows = makeSyntheticFeedback(9, new Rng(4));
    await new FeedbackRepository(db.orm.em.fork()).insertMany(rows.map((r) => ({ ...r, agentId: 'agent-few', runId: 'r1' })));
    await expect(run(data.loadFeedback, { runId: 'run_few', agentId: 'agent-few' })).rejects.toMatchObject({
      type: TrainingFailureTypes.invalidFeedback,
      nonRetryable: true,
    });
  });
});

describe('setRunStatus', () => {
  it('moves the run record and keeps a finished run finished', async () => {
    const runs = new TrainingRunRepository(db.orm.em.fork());
    await runs.create({ id: 'run_status', workflowId: 'train-run_status', agentId: 'agent-status', config: {} });
    await run(data.setRunStatus, { runId: 'run_status', status: 'running' });
    await run(data.setRunStatus, { runId: 'run_status', status: 'failed', error: 'boom' });
    await run(data.setRunStatus, { runId: 'run_status', status: 'completed' });
    const row = await new TrainingRunRepository(db.orm.em.fork()).get('run_status');
    expect(row).toMatchObject({ status: 'failed', error: 'boom' });
  });
});

describe('savePolicy', () => {
  const runId = 'run_save';
  const agentId = 'agent-save';
  const metrics = Object.fromEntries(Object.values(MetricKeys).map((k, i) => [k, i / 10])) as UpdateMetrics;
  let input: SavePolicyInput;

  beforeAll(async () => {
    const plan = await run(data.resolveConfig, { runId, preset: 'quick', maxSteps: 2, configPatch: { updatesPerChunk: 1 } });
    // Stand-ins for the exported policy and reward model: savePolicy only copies directories.
    await store.writeJson(`${runArtifacts.finalPolicy(runId)}/weights.json`, { w: [1, 2, 3] });
    await store.writeJson(`${runArtifacts.rewardModel(runId)}/config.json`, { r: 1 });
    await store.writeJson(runArtifacts.metrics(runId, 1), metrics);
    input = {
      runId,
      agentId,
      configRef: plan.configRef,
      policyRef: runArtifacts.finalPolicy(runId),
      rewardModelRef: runArtifacts.rewardModel(runId),
      dataset: { feedbackCount: 30, scoreMean: 0.5, scoreStd: 0.2, trainCount: 24, valCount: 6 },
      trainingSteps: 2,
      rewardModel: { valMse: 0.1, valMae: 0.2, valPearson: 0.8, valSpearman: 0.7 },
      sft: { finalLoss: 2.5, steps: 3 },
      latestMetrics: metrics,
      rewardMean: 0.4,
      rewardStd: 0.1,
    };
  });

  it('a failed partial attempt and its retry leave one row and the seed layout', async () => {
    // First attempt: update 2's metrics are missing, so it fails after copying the directories.
    await expect(run(data.savePolicy, input)).rejects.toMatchObject({ type: TrainingFailureTypes.missingArtifact });
    expect(await new PolicyVersionRepository(db.orm.em.fork()).listByAgent(agentId)).toHaveLength(0);

    await store.writeJson(runArtifacts.metrics(runId, 2), metrics);
    const first = await run(data.savePolicy, input);
    const retried = await run(data.savePolicy, input);
    expect(retried).toEqual(first);
    expect(first.version).toBe('v1');
    expect(first.modelKey).toBe(policyKey(agentId, 'v1', 'policy'));

    const rows = await new PolicyVersionRepository(db.orm.em.fork()).listByAgent(agentId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ trainingRunId: runId, feedbackCount: 30, rewardMean: 0.4, version: 'v1' });
    expect((rows[0].metrics as { rewardMean: number }).rewardMean).toBe(0.4);

    expect((await readdir(store.resolve(agentId))).sort()).toEqual(['v1']);
    expect((await readdir(store.resolve(policyKey(agentId, 'v1')))).sort()).toEqual(['policy', 'reward_model', 'training_results.json']);
    expect(await store.readJson(policyKey(agentId, 'v1', 'policy', 'weights.json'))).toEqual({ w: [1, 2, 3] });
    const results = await readTrainingResults(store.resolve(policyKey(agentId, 'v1')));
    expect(results.ppo.history).toHaveLength(2);
    expect(results.rewardModel?.valPearson).toBe(0.8);
  });

  it('the next run of the agent gets the next version', async () => {
    const next = { ...input, runId: 'run_save_2' };
    await store.copyDir(runArtifacts.metrics(runId, 1).replace(/\/[^/]+$/, ''), runArtifacts.metrics('run_save_2', 1).replace(/\/[^/]+$/, ''));
    const saved = await run(data.savePolicy, next);
    expect(saved.version).toBe('v2');
    expect((await new PolicyVersionRepository(db.orm.em.fork()).listByAgent(agentId)).map((r) => r.version)).toEqual(['v2', 'v1']);
  });
});
