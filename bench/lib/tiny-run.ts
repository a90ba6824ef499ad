/**
 * A tiny training run for the benches that need many PPO updates quickly (memory, checkpoint
 * cost, orchestration, recovery): one-layer width-16 models, 4-sequence batches, 6 new tokens.
 * The same shape as the workflow tests' config, defined here so benches do not import tests.
 */
import { applyConfigPatch } from '../../activities/config-patch';
import { resolveRunConfig, type RunConfig } from '../../spec/run-config';
import { GptModel } from '../../ml/model';
import { PpoTrainer } from '../../ml/ppo-trainer';
import { RewardModel } from '../../ml/reward-model';
import { Rng } from '../../ml/rng';
import { fitScoreNormalization } from '../../ml/score-normalization';
import { syntheticPrompts } from '../../ml/synthetic-task';
import { ByteTokenizer } from '../../ml/tokenizer';
import type { ConfigPatch } from '../../contract/run-contract';

/** Patch over the `quick` preset; `totalUpdates` and `updatesPerChunk` are set per bench. */
export const TINY_PATCH = {
  policyModel: { nLayer: 1, nHead: 1, nEmbd: 16, blockSize: 32, lora: { rank: 2, alpha: 4, dropout: 0 } },
  reward: { model: { nLayer: 1, nHead: 1, nEmbd: 16, blockSize: 32 }, epochs: 3, batchSize: 16, earlyStoppingPatience: 3 },
  sft: { epochs: 1, batchSize: 16 },
  ppo: { batchSize: 4, miniBatchSize: 4, ppoEpochs: 1, generation: { maxNewTokens: 6, temperature: 1, topK: 0, topP: 1 } },
  gate: { minValPearson: -1 },
} satisfies ConfigPatch;

export function tinyPatch(totalUpdates: number, updatesPerChunk: number): ConfigPatch {
  return { ...TINY_PATCH, ppo: { ...TINY_PATCH.ppo, totalUpdates }, updatesPerChunk };
}

export function tinyConfig(totalUpdates: number, updatesPerChunk: number, seed: number): RunConfig {
  return applyConfigPatch(resolveRunConfig('quick', { seed }), tinyPatch(totalUpdates, updatesPerChunk));
}

/** A PPO trainer on a fresh tiny policy and an untrained reward model (speed does not depend on the weights). */
export function untrainedTrainer(cfg: RunConfig, seed: number): { trainer: PpoTrainer; dispose: () => void } {
  const tokenizer = new ByteTokenizer();
  const policy = GptModel.create(cfg.policyModel, new Rng(seed));
  const rmModel = { ...cfg.reward.model, lora: { rank: 0, alpha: 0, dropout: 0 } };
  const reward = new RewardModel(GptModel.create(rmModel, new Rng(seed + 1)), rmModel, fitScoreNormalization([0, 1]));
  const trainer = PpoTrainer.create({ config: cfg, policy, reward, tokenizer, prompts: syntheticPrompts(32, new Rng(seed)), seed });
  return {
    trainer,
    dispose: () => {
      trainer.dispose();
      policy.dispose();
      reward.dispose();
    },
  };
}
