/**
 * Dry-run estimate of a training run's size and time, from the resolved RunConfig alone.
 *
 * Cost model (FLOPs; Kaplan et al. 2020, "Scaling Laws", §2.1: a forward pass costs about
 * 2N FLOPs per token and forward + backward about 6N, for N non-embedding parameters):
 *   N(model)   = 12 · nLayer · nEmbd²                                 (attention + MLP blocks)
 *   T          = blockSize                                           (upper bound per sequence)
 *   reward     = epochs_rm · (trainRows + negatives) · T · 6 · N_rm,  negatives = round(syntheticNegatives · trainRows)
 *   sft        = epochs_sft · trainRows · T · 6 · N_pol
 *   ppoUpdate  = B · maxNewTokens · 2 · N_pol                        (rollout, KV-cached decode)
 *              + B · T · 2 · (2 · N_pol + N_rm)                      (policy, reference, reward forwards)
 *              + ppoEpochs · B · T · 6 · N_pol                       (minibatch updates)
 *   minutes    = (reward + sft + totalUpdates · ppoUpdate) / flopsPerSecond / 60
 * `flopsPerSecond` is a calibration constant per worker backend (FLOPS_PER_SECOND_BY_BACKEND), not a
 * measurement of this run; the API learns the workers' backend from configuration (workerBackendOf), never
 * by loading TensorFlow.js.
 * `sft.epochs` is a cap since SFT stops at the plateau of its validation loss (issue 11), so the
 * SFT term is an upper bound; the lengths (blockSize, maxNewTokens) are the data-derived ones when
 * the caller applied spec/data-lengths first (the train route does).
 */
import { derivePpoSizes, type ModelConfig, type RunConfig } from '../spec/run-config';

/** The TensorFlow.js backends a worker can run on (ml/backend.ts BackendNames), named here without loading it. */
export type WorkerBackend = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/**
 * Sustained FLOP/s of TensorFlow.js on one small-model WASM worker. An assumption (order of
 * magnitude for 2 shared cores); callers with measurements pass their own.
 */
export const DEFAULT_CPU_FLOPS_PER_SECOND = 2e9;

/**
 * Sustained FLOP/s per worker backend, for 2 CPU cores. Ratios to WASM, measured (bench/RESULTS.md):
 *  - tensorflow (native, tfjs-node against TensorFlow 2.21): PPO update at d = 128, 5.95 s against 15.86 s
 *    on WASM (issue 10), so ~2.7×; on GPT-2-small shapes the gap is wider, at d ≤ 64 it closes (per-op overhead);
 *  - cpu (pure JS): one small-policy training step 2.85 s against 0.13-0.53 s on WASM, so ~1/10;
 *  - tensorflow-gpu: not measured yet (no GPU on the development machines; bench/device-check.sh measures it),
 *    so the native CPU rate, which is a lower bound.
 */
export const FLOPS_PER_SECOND_BY_BACKEND: Readonly<Record<WorkerBackend, number>> = {
  'tensorflow-gpu': 5e9,
  tensorflow: 5e9,
  wasm: DEFAULT_CPU_FLOPS_PER_SECOND,
  cpu: 2e8,
};

/**
 * The workers' backend as configured: RLHF_WORKER_BACKEND, else RLHF_BACKEND (the same variable the
 * workers read), else wasm when RLHF_NATIVE=0 (native skipped), else tensorflow (the default once
 * scripts/native/provision-tensorflow.sh has run; workers that fall back to WASM log why).
 */
export function workerBackendOf(env: { RLHF_WORKER_BACKEND?: WorkerBackend; RLHF_BACKEND?: WorkerBackend; RLHF_NATIVE?: string }): WorkerBackend {
  return env.RLHF_WORKER_BACKEND ?? env.RLHF_BACKEND ?? (env.RLHF_NATIVE === '0' ? 'wasm' : 'tensorflow');
}

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
  // The reward model also trains on its synthesised negatives (ml/reward-negatives.ts synthesiseNegatives).
  const negatives = Math.round((cfg.reward.syntheticNegatives ?? 0) * trainRows);
  const rewardFlops = cfg.reward.epochs * (trainRows + negatives) * cfg.reward.model.blockSize * 6 * nReward;
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
