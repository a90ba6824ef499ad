/**
 * Dry-run estimate of a training run's size and time, from the resolved RunConfig alone.
 *
 * Cost model (FLOPs; Kaplan et al. 2020, "Scaling Laws", §2.1: a forward pass costs about
 * 2N FLOPs per token and forward + backward about 6N, for N non-embedding parameters):
 *   N(model)   = 12 · nLayer · nEmbd²                                 (attention + MLP blocks)
 *   T          = blockSize                                           (upper bound per sequence)
 *   reward     = epochs_rm · trainRows · T · 6 · N_rm
 *   sft        = epochs_sft · trainRows · T · 6 · N_pol
 *   ppoUpdate  = B · maxNewTokens · 2 · N_pol                        (rollout, KV-cached decode)
 *              + B · T · 2 · (2 · N_pol + N_rm)                      (policy, reference, reward forwards)
 *              + ppoEpochs · B · T · 6 · N_pol                       (minibatch updates)
 *   minutes    = (reward + sft + totalUpdates · ppoUpdate) / flopsPerSecond / 60
 * `flopsPerSecond` is a calibration constant for the CPU/WASM backend, not a measurement.
 * `sft.epochs` is a cap since SFT stops at the plateau of its validation loss (issue 11), so the
 * SFT term is an upper bound; the lengths (blockSize, maxNewTokens) are the data-derived ones when
 * the caller applied ml/data-lengths first (the train route does).
 */
import { derivePpoSizes, type ModelConfig, type RunConfig } from '../ml/config';

/**
 * Sustained FLOP/s of TensorFlow.js on one small-model CPU/WASM worker. An assumption
 * (order of magnitude for 2 shared cores); callers with measurements pass their own.
 */
export const DEFAULT_CPU_FLOPS_PER_SECOND = 2e9;

export interface DryRunEstimate {
  /** PPO updates the run will perform (the seed's "steps"). */
  estimatedSteps: number;
  /** Optimizer steps across every PPO update. */
  estimatedOptimizerSteps: number;
  estimatedTimeMinutes: number;
  estimatedFlops: number;
  parameters: { policy: number; rewardModel: number };
}

/** Non-embedding parameters of a nanoGPT-shaped decoder (Kaplan et al. 2020, Table 1). */
export function nonEmbeddingParameters(m: ModelConfig): number {
  return 12 * m.nLayer * m.nEmbd * m.nEmbd;
}

export function estimateDryRun(cfg: RunConfig, feedbackCount: number, flopsPerSecond = DEFAULT_CPU_FLOPS_PER_SECOND): DryRunEstimate {
  const trainRows = Math.max(1, Math.round(feedbackCount * (1 - cfg.valFraction)));
  const nPolicy = nonEmbeddingParameters(cfg.policyModel);
  const nReward = nonEmbeddingParameters(cfg.reward.model);
  const rewardFlops = cfg.reward.epochs * trainRows * cfg.reward.model.blockSize * 6 * nReward;
  const sftFlops = cfg.sft.epochs * trainRows * cfg.policyModel.blockSize * 6 * nPolicy;
  const { batchSize, ppoEpochs, generation, totalUpdates } = cfg.ppo;
  const t = cfg.policyModel.blockSize;
  const rolloutFlops = batchSize * generation.maxNewTokens * 2 * nPolicy;
  const scoringFlops = batchSize * t * 2 * (2 * nPolicy + nReward);
  const updateFlops = ppoEpochs * batchSize * t * 6 * nPolicy;
  const totalFlops = rewardFlops + sftFlops + totalUpdates * (rolloutFlops + scoringFlops + updateFlops);
  return {
    estimatedSteps: totalUpdates,
    estimatedOptimizerSteps: totalUpdates * derivePpoSizes(cfg.ppo).optimizerStepsPerUpdate,
    estimatedTimeMinutes: Math.round((totalFlops / flopsPerSecond / 60) * 100) / 100,
    estimatedFlops: totalFlops,
    parameters: { policy: nPolicy, rewardModel: nReward },
  };
}
