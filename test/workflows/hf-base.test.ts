/**
 * The whole pipeline from a Hugging Face base (issue 7): the training workflow on the real dev
 * server with the real activities, starting from the committed tiny-gpt2 fixture. The run's
 * starting policy is exactly the base, SFT is skipped, the tokenizer is the base's BPE, the
 * reward model is the base with trained LoRA adapters (base weights unchanged) and keeps the
 * tokenizer, and the saved version's policy loads (ours and as a Hugging Face directory) and generates.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { runArtifacts } from '../../storage/artifact-keys';
import { FeedbackRepository, PolicyVersionRepository, TrainingRunRepository } from '../../db/repositories';
import { BpeTokenizer } from '../../ml/hf/bpe-tokenizer';
import { loadHfModelDir } from '../../ml/hf/load';
import { readGpt2Config } from '../../spec/hf-model-config';
import { PolicyFiles, generateText, loadPolicy } from '../../ml/policy-export';
import { loadRewardModel, RewardModelFiles } from '../../ml/reward-model';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { readTrainingResults } from '../../ml/training-results';
import { LocalArtifactStore, policyKey } from '../../storage/artifact-store';
import { trainingWorkflowType, TrainingFailureTypes, type ConfigPatch, type TrainPolicyInput, type TrainPolicyResult } from '../../contract/run-contract';
import { FIXTURE_DIR, logitsOf, maxAbsDiff } from '../hf/fixture';
import { startHub } from '../hf/hub-server';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { connectTestEnv, uniqueId, uniqueQueues, withWorkers, type TestQueues } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let root: string;
let store: LocalArtifactStore;

beforeAll(async () => {
  env = await connectTestEnv();
  db = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), 'hf-base-run-'));
  store = new LocalArtifactStore(root);
});

afterAll(async () => {
  await db?.dispose();
  await env?.teardown();
  await rm(root, { recursive: true, force: true });
});

/**
 * The tiniest run on the fixture base (2 layers, d = 64): the policy's and the reward model's
 * shapes come from the base, so the patch only sets their adapters; 2 reward epochs, 4 PPO
 * updates in chunks of 2.
 */
const REWARD_LORA = { rank: 2, alpha: 4, dropout: 0 };
const BASE_PATCH: ConfigPatch = {
  policyModel: { lora: { rank: 2, alpha: 4, dropout: 0 } },
  reward: { model: { lora: REWARD_LORA }, epochs: 2, batchSize: 16, earlyStoppingPatience: 2 },
  ppo: { totalUpdates: 4, batchSize: 4, miniBatchSize: 4, ppoEpochs: 1, generation: { maxNewTokens: 6, temperature: 1, topK: 0, topP: 1 } },
  gate: { minValPearson: -1 },
  updatesPerChunk: 2,
};

async function startRun(queues: TestQueues, baseModelDir: string | Pick<TrainPolicyInput, 'baseModel'>) {
  const runId = uniqueId('run').replace(/-/g, '_');
  const agentId = uniqueId('agent');
  const rows = makeSyntheticFeedback(30, new Rng(5));
  await new FeedbackRepository(db.orm.em.fork()).insertMany(rows.map((r) => ({ ...r, agentId, runId: 'seed' })));
  const workflowId = `train-${runId}`;
  await new TrainingRunRepository(db.orm.em.fork()).create({ id: runId, workflowId, agentId, config: {} });
  const base = typeof baseModelDir === 'string' ? { baseModelDir } : baseModelDir;
  const input: TrainPolicyInput = { runId, agentId, preset: 'quick', seed: 31, configPatch: BASE_PATCH, ...base, taskQueues: queues };
  const handle = await env.client.workflow.start(trainingWorkflowType, { workflowId, taskQueue: queues.cpu, args: [input] });
  return { runId, agentId, handle };
}

it('trains from the tiny-gpt2 base to a saved version whose policy loads, exports to HF and generates', async () => {
  const queues = uniqueQueues();
  await withWorkers(env, { orm: db.orm, store, queues }, async () => {
    const run = await startRun(queues, FIXTURE_DIR);
    const result = (await run.handle.result()) as TrainPolicyResult;
    expect(result).toMatchObject({ status: 'trained', runId: run.runId, version: 'v1', feedbackCount: 30, trainingSteps: 4 });
    const versions = await new PolicyVersionRepository(db.orm.em.fork()).listByAgent(run.agentId);
    expect(versions.map((v) => [v.version, v.modelKey])).toEqual([['v1', result.modelKey]]);
    expect(Number.isFinite(result.rewardMean)).toBe(true);

    // No SFT: training_results says so, and the starting policy is the base itself (B = 0 adapters).
    const results = await readTrainingResults(store.resolve(policyKey(run.agentId, 'v1')));
    expect(results.sft).toBeNull();
    expect(results.ppo.history).toHaveLength(4);
    const base = await loadHfModelDir(FIXTURE_DIR, { lora: { rank: 0, alpha: 0, dropout: 0 } });
    const init = await loadPolicy(store.resolve(runArtifacts.sftPolicy(run.runId)));
    const tok = base.tokenizer;
    const ids = [[tok.bosId, ...tok.encode('Q7: banana')]];
    const baseLogits = logitsOf(base.model, ids);
    expect(maxAbsDiff(logitsOf(init.policy, ids), baseLogits)).toBe(0);

    // The reward model is the base with trained adapters: its base tensors equal the fixture's
    // exactly, and it keeps the base's tokenizer next to it.
    const reward = await loadRewardModel(store.resolve(result.rewardModelKey));
    expect(reward.model.modelConfig).toEqual({ ...base.config, lora: REWARD_LORA });
    const rewardWeights = reward.model.trunk.getWeights();
    const baseWeights = base.model.getWeights();
    for (const name of ['wte.weight', 'h.0.attn.c_attn.weight', 'h.1.mlp.c_proj.weight', 'ln_f.bias']) {
      expect(Buffer.from(rewardWeights[name].buffer).equals(Buffer.from(baseWeights[name].buffer))).toBe(true);
    }
    expect(rewardWeights['h.0.attn.c_attn.lora_B'].some((x) => x !== 0)).toBe(true); // LoRA B starts at 0
    expect(await readdir(path.join(store.resolve(result.rewardModelKey), RewardModelFiles.bpeTokenizer))).toEqual(
      expect.arrayContaining(['tokenizer.json', 'vocab.json', 'merges.txt']),
    );
    expect(reward.tokenizer).toBeInstanceOf(BpeTokenizer);
    expect(reward.tokenizer?.encode('Q7: banana')).toEqual(tok.encode('Q7: banana'));

    // The saved policy: BPE tokenizer files, the base's config kept, and an HF directory of the same function.
    expect((await readdir(store.resolve(result.modelKey))).sort()).toEqual(
      [PolicyFiles.bpeTokenizer, PolicyFiles.config, PolicyFiles.hf, PolicyFiles.tokenizer, PolicyFiles.weights].sort(),
    );
    const saved = await loadPolicy(store.resolve(result.modelKey));
    expect(saved.tokenizer).toBeInstanceOf(BpeTokenizer);
    expect(saved.tokenizer.encode('Q7: banana')).toEqual(tok.encode('Q7: banana'));
    expect(saved.hfConfig).toEqual(await readGpt2Config(FIXTURE_DIR));
    const trainedLogits = logitsOf(saved.policy, ids);
    expect(maxAbsDiff(trainedLogits, baseLogits)).toBeGreaterThan(1e-6); // PPO moved the adapters
    const hf = await loadHfModelDir(path.join(store.resolve(result.modelKey), PolicyFiles.hf), { lora: { rank: 0, alpha: 0, dropout: 0 } });
    expect(maxAbsDiff(logitsOf(hf.model, ids), trainedLogits)).toBeLessThan(1e-4);
    const gen = { maxNewTokens: 8, temperature: 1, topK: 0, topP: 1 };
    const text = generateText(saved.policy, saved.tokenizer, 'Q7: ', gen, new Rng(2));
    expect(typeof text).toBe('string');
    expect(generateText(hf.model, hf.tokenizer, 'Q7: ', gen, new Rng(2))).toBe(text);
    [base.model, init.policy, saved.policy, hf.model, reward.model.trunk].forEach((m) => m.dispose());
    expect((await new TrainingRunRepository(db.orm.em.fork()).get(run.runId))?.status).toBe('completed');
  });
  // A whole pipeline run from the base: about a minute on an idle 2-core machine, 6+ minutes when it is heavily shared.
}, 900_000);

it('a base by hub id (baseModel) is downloaded by the activities through a local hub server and trains like the directory', async () => {
  const files = new Map<string, Buffer>();
  for (const f of await readdir(FIXTURE_DIR)) if (f !== 'expected.json') files.set(f, await readFile(path.join(FIXTURE_DIR, f)));
  const hub = await startHub({ repos: new Map([['org/tiny-gpt2', files]]), badSha: new Set(), cutNextCdnTransfer: true, log: [] });
  const saved = { HF_ENDPOINT: process.env.HF_ENDPOINT, RLHF_HF_CACHE: process.env.RLHF_HF_CACHE };
  const cache = path.join(root, 'hf-cache');
  process.env.HF_ENDPOINT = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
  process.env.RLHF_HF_CACHE = cache;
  try {
    const queues = uniqueQueues();
    await withWorkers(env, { orm: db.orm, store, queues }, async () => {
      const run = await startRun(queues, { baseModel: { repo: 'org/tiny-gpt2' } });
      const result = (await run.handle.result()) as TrainPolicyResult;
      expect(result).toMatchObject({ status: 'trained', runId: run.runId, version: 'v1', trainingSteps: 4 });
      // The snapshot in the worker's cache is the fixture, byte for byte (its first transfer was cut and resumed).
      const snapshot = path.join(cache, 'org--tiny-gpt2', 'main');
      for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) {
        expect((await readFile(path.join(snapshot, f))).equals(files.get(f)!)).toBe(true);
      }
      // The starting policy is exactly the base, as with baseModelDir.
      const base = await loadHfModelDir(FIXTURE_DIR, { lora: { rank: 0, alpha: 0, dropout: 0 } });
      const init = await loadPolicy(store.resolve(runArtifacts.sftPolicy(run.runId)));
      const ids = [[base.tokenizer.bosId, ...base.tokenizer.encode('Q7: banana')]];
      expect(maxAbsDiff(logitsOf(init.policy, ids), logitsOf(base.model, ids))).toBe(0);
      [base.model, init.policy].forEach((m) => m.dispose());
    });
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    await new Promise((resolve) => hub.close(resolve));
  }
}, 900_000);

it('a base directory without a model fails the run at once as InvalidConfig, naming the file', async () => {
  const queues = uniqueQueues();
  const empty = await mkdtemp(path.join(tmpdir(), 'hf-base-empty-'));
  try {
    await withWorkers(env, { orm: db.orm, store, queues }, async () => {
      const run = await startRun(queues, empty);
      const failure = await run.handle.result().then(
        () => null,
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      // WorkflowFailedError ← ActivityFailure ← the activity's ApplicationFailure.
      const cause = (failure as WorkflowFailedError).cause?.cause as { type?: string; message: string; nonRetryable?: boolean };
      expect(cause).toMatchObject({ type: TrainingFailureTypes.invalidConfig, nonRetryable: true });
      expect(cause.message).toContain(path.join(empty, 'config.json'));
      expect((await new TrainingRunRepository(db.orm.em.fork()).get(run.runId))?.status).toBe('failed');
    });
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});
