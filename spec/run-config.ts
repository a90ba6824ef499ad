/**
 * Typed training configuration with documented defaults, and the named presets.
 *
 * Names follow TRL 0.7's PPOConfig where a field has a TRL equivalent (camelCased), so
 * users can carry their intuition over. Defaults that differ from TRL say why.
 * Derived sizes are computed once by `derivePpoSizes`, never written back into a config.
 */

import { bpeTokenizerFromMerges, MIN_TRAINED_BPE_VOCAB } from '../ml/bpe-training';

export interface LoraConfig {
  /** Adapter rank r. 0 disables LoRA (the matrices train directly). */
  rank: number;
  /** Scale numerator: the adapter output is multiplied by alpha / rank (Hu et al. 2021). */
  alpha: number;
  /** Dropout on the adapter input. 0 by default so rollouts and updates see one function. */
  dropout: number;
}

/** nanoGPT-shaped decoder-only transformer (pre-LN, GELU MLP, tied LM head). */
export interface ModelConfig {
  /** Tokenizer vocabulary size (byte-level: 256 bytes + BOS, EOS, PAD = 259). */
  vocabSize: number;
  /** Longest sequence (prompt + response) in tokens; size of the position table. */
  blockSize: number;
  nLayer: number;
  nHead: number;
  /** Residual width C; must be divisible by nHead. */
  nEmbd: number;
  /** Residual/attention dropout. 0: RLHF fine-tuning runs without it (as nanoGPT's finetune). */
  dropout: number;
  /** Adapters on the attention (qkv, proj) and MLP (fc, proj) matrices. */
  lora: LoraConfig;
}

export interface OptimConfig {
  learningRate: number;
  /** Linear warm-up from 0 over this many optimizer steps. */
  warmupSteps: number;
  /** Learning-rate decay after warm-up, to 0 at the last step ('none' keeps it flat). */
  decay: 'none' | 'linear' | 'cosine';
  /** Clip gradients to this global L2 norm (0 disables). */
  maxGradNorm: number;
  /** Decoupled weight decay (AdamW, Loshchilov & Hutter 2019). */
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
}

/** Reward model: transformer trunk + scalar head on the last non-pad token. */
export interface RewardModelConfig {
  model: ModelConfig;
  optim: OptimConfig;
  /** 'full' trains every weight (needed from a random init); 'lora' freezes the trunk (pretrained base). */
  trainable: 'full' | 'lora';
  epochs: number;
  batchSize: number;
  /** Stop after this many epochs without a better validation loss; the best weights are kept. */
  earlyStoppingPatience: number;
  /** Weight of the optional pairwise Bradley-Terry loss on same-prompt pairs (0 = MSE only). */
  pairwiseWeight: number;
  /**
   * Synthesised bad replies added to the training rows, as a fraction of them (empty, truncated,
   * repeated and word-shuffled versions of real replies, scored at the lowest training score;
   * ml/reward-negatives.ts). A reward model never shown an empty reply scored it above every real
   * reply in issue 11, and PPO found it. 0 turns it off. Optional in stored configs: absent means 0.
   */
  syntheticNegatives?: number;
  /**
   * Weight of an auxiliary next-token loss on the real training rows' prompt and response, added
   * to the regression loss through the same trunk. A reward model trained from scratch on a few
   * hundred rows otherwise learns only what separates their scores, and overfits the rest; the
   * language-model loss makes the trunk model the text too, which regularises what the scalar head
   * reads (Yang et al. 2024, "Regularizing Hidden States Enables Learning Generalizable Reward
   * Model for LLMs", the SFT regulariser; Radford et al. 2018 §3.2 keep an auxiliary LM loss
   * when fine-tuning for the same reason). 0 turns it off. Optional in stored configs: absent means 0.
   */
  languageModelWeight?: number;
}

/** Supervised warm start: teacher forcing on (prompt, response), loss on response tokens only. */
export interface SftConfig {
  optim: OptimConfig;
  epochs: number;
  batchSize: number;
  /** Train only on rows whose normalised score is at least this (−1 keeps all rows). */
  minNormalizedScore: number;
  /**
   * Stop after this many epochs without a lower validation response loss (the best epoch's
   * weights are kept); `epochs` is then the cap, not the plan. 0 runs exactly `epochs` epochs.
   * A fixed epoch count left the issue-11 support task's policy writing noise after 10 epochs
   * while 200 reached phrase-level text: the plateau depends on the data, not on one number.
   */
  earlyStoppingPatience: number;
}

export interface GenerationConfig {
  /**
   * Longest response in tokens. A response that reaches it without EOS is cut there and scored
   * as it is, unless `ppo.missingEosPenalty` replaces its score.
   */
  maxNewTokens: number;
  /**
   * EOS is never sampled before this many response tokens (HF `min_new_tokens`: the EOS logit is
   * set to −∞). Stops PPO's length/EOS hack, the empty reply, at the root. The log-probs PPO
   * trains on are the unmasked policy's (as in TRL with HF's min-length processors), which differ
   * only at those first k positions' EOS mass. Optional in stored configs: absent means 0.
   */
  minNewTokens?: number;
  /** TRL's newer PPOTrainer samples at 0.7; 1.0 keeps the policy's own distribution. */
  temperature: number;
  /** Keep the k most likely tokens (0 = off). */
  topK: number;
  /** Nucleus sampling mass (1 = off). */
  topP: number;
}

export interface PpoConfig {
  optim: OptimConfig;
  /** Total PPO updates (TRL 0.7 `steps` / batch). */
  totalUpdates: number;
  /** Rollouts per update (TRL `batch_size`; TRL default 128, small here so CPU updates stay short). */
  batchSize: number;
  /** Rows per optimizer step before accumulation (TRL `mini_batch_size`). */
  miniBatchSize: number;
  /** Mini-batches whose gradients are summed before one optimizer step. */
  gradientAccumulationSteps: number;
  /** Passes over each rollout batch (TRL default 4). */
  ppoEpochs: number;
  /** Initial KL coefficient β (TRL 0.7 `init_kl_coef` 0.2). */
  initKlCoef: number;
  /** Adaptive controller (Ziegler et al. 2019) when true; fixed β otherwise. */
  adaptiveKl: boolean;
  /** Target KL per sequence for the adaptive controller (TRL 0.7 `target` 6). */
  klTarget: number;
  /**
   * Controller horizon in samples (TRL 0.7 `horizon` 10000). 0 derives it from the run's plan
   * (`effectiveKlHorizon`): with TRL's 10000 and a batch of 16-32, β moves by at most 0.03-0.06 %
   * per update, so over a 20-100-update run the "adaptive" controller is a fixed β.
   */
  klHorizon: number;
  /** Per-token KL estimator in the reward (Schulman, "Approximating KL divergence", 2020). */
  klEstimator: 'k1' | 'k3';
  gamma: number;
  lam: number;
  cliprange: number;
  cliprangeValue: number;
  vfCoef: number;
  /** Skip a mini-batch whose mean ratio exceeds this (TRL 0.7 `ratio_threshold` 10). */
  ratioThreshold: number;
  whitenAdvantages: boolean;
  /**
   * Stop an update's remaining PPO epochs once the mean approxkl (½·mean (log π − log π_old)²
   * per token) of the epoch just finished exceeds 1.5 × `targetKl` (TRL 0.7 `early_stopping`,
   * `target_kl`, checked per epoch like TRL; TRL compares its `policykl` = mean(log π_old − log π)
   * and defaults to off with target 1). On here, with a target healthy PPO keeps (~0.01-0.02 per
   * token), so one update stays a trust region whatever the learning rate. Counted in
   * `ppo/epochs_run`. Optional in stored configs: absent means off.
   */
  earlyStopping?: boolean;
  targetKl?: number;
  /** Score given to a response that never emits EOS, replacing the reward model's (null = off). */
  missingEosPenalty: number | null;
  generation: GenerationConfig;
}

/** What a guardrail trip changes before the run continues from the last healthy checkpoint. */
export const GuardRemedies = {
  /** Multiply the learning rate by 0.5 (from the next update on). */
  halveLearningRate: 'halve_lr',
  /** Multiply the KL coefficient β by `klRaiseFactor` (the adaptive controller continues from there). */
  raiseKlCoef: 'raise_kl',
  /** Multiply the sampling temperature by `temperatureFactor` (rollout and the PPO forward both use it). */
  lowerTemperature: 'lower_temperature',
} as const;
export type GuardRemedy = (typeof GuardRemedies)[keyof typeof GuardRemedies];

/**
 * A test hook (fault injection through the run config): after update `atUpdate`, while the run
 * has tripped fewer than `whileTripsBelow` times, overwrite `metric` with `value` and/or set a
 * trainable weight to NaN. Deterministic, so a replay from the checkpoints trips the same way.
 */
export interface GuardFault {
  atUpdate: number;
  whileTripsBelow: number;
  metric?: string;
  value?: number;
  nanWeight?: boolean;
}

/**
 * Health check per PPO update and its rollback (ml/ppo-health.ts, activities/ppo-guard.ts).
 * Defaults are loose enough that a healthy quick/small/medium run never trips (the presets'
 * KL stays near or below the target of 6, entropy ~1-3 nats/token) and tight enough to stop
 * what issue 14 reports: length 71 → 1.6 tokens, KL 9–14 against 6, entropy 0.03.
 */
export interface GuardConfig {
  /** false: no check, no rollback (a non-finite metric then fails the run, as before). */
  enabled: boolean;
  /** Trip when KL > klFactor × target for klPatience updates in a row. 2 ×: the adaptive controller moves β by at most ±20 % × n/horizon per update, so a KL twice the target that persists means the controller is losing. */
  klFactor: number;
  /** 3: one or two high-KL batches are noise at batch 16-64. */
  klPatience: number;
  /** Negative-KL tolerance in standard errors of the batch-mean KL: 4 σ, a false trip under 1 in 30,000 updates for a Gaussian mean. */
  negativeKlSigmas: number;
  /** …and at least this many nats: 0.05, so a batch of near-identical sequences (tiny standard error) does not trip on rounding. */
  negativeKlMinEpsilon: number;
  /** Mean per-token entropy floor, nats. 0.05: the collapse reached 0.03; a byte-level SFT policy starts near 1-2. */
  entropyFloor: number;
  /** Trip when entropy falls by more than entropyMaxDrop (fraction) over entropyWindow updates: 0.6 over 3, a collapse rather than sharpening. */
  entropyMaxDrop: number;
  entropyWindow: number;
  /** Allowed mean response length relative to the starting policy's (update 1's rollout): 0.3–3 ×. 71 → 1.6 tokens is 0.02 ×. */
  lengthRatioMin: number;
  lengthRatioMax: number;
  /** EOS-rate collapse: below eosRateMinRatio (0.3) × the starting policy's rate, checked only when the start ended at least eosRateMinBaseline (0.2) of its replies. */
  eosRateMinRatio: number;
  eosRateMinBaseline: number;
  /** …and by more than eosRateSigmas (3) binomial standard errors of the batch, so small batches do not trip on noise. */
  eosRateSigmas: number;
  /** Reward hacking: the reward model's score up by more than this (normalised units, 0.5 = a quarter of the [-1, 1] range)… */
  rewardHackScoreRise: number;
  /** …while KL > rewardHackKlFactor × target (1.5). */
  rewardHackKlFactor: number;
  remedy: GuardRemedy;
  /** β × this for `raise_kl` (2: doubles the penalty, TRL's controller would need many updates to get there). */
  klRaiseFactor: number;
  /** Temperature × this for `lower_temperature` (0.8). */
  temperatureFactor: number;
  /** The run fails (non-retryable) at this many trips (3): a run that needs more rollbacks needs a person. */
  maxTrips: number;
  /** Fault injection for tests; empty in every preset. */
  faults: GuardFault[];
}

export const DEFAULT_GUARD: GuardConfig = {
  enabled: true,
  klFactor: 2,
  klPatience: 3,
  negativeKlSigmas: 4,
  negativeKlMinEpsilon: 0.05,
  entropyFloor: 0.05,
  entropyMaxDrop: 0.6,
  entropyWindow: 3,
  lengthRatioMin: 0.3,
  lengthRatioMax: 3,
  eosRateMinRatio: 0.3,
  eosRateMinBaseline: 0.2,
  eosRateSigmas: 3,
  rewardHackScoreRise: 0.5,
  rewardHackKlFactor: 1.5,
  remedy: GuardRemedies.halveLearningRate,
  klRaiseFactor: 2,
  temperatureFactor: 0.8,
  maxTrips: 3,
  faults: [],
};

export interface QualityGateConfig {
  /** The run fails (non-retryable) when the reward model's validation Pearson is below this. */
  minValPearson: number;
}

/** The evaluation phase after PPO (ml/evaluation.ts). */
export interface EvaluationConfig {
  /** Responses sampled per held-out prompt from each of the start and the final policy. */
  samplesPerPrompt: number;
  /** Held-out prompts used, at most (the first distinct validation prompts). */
  maxPrompts: number;
}

/** Used when a stored config predates the evaluation phase. */
export const DEFAULT_EVALUATION: EvaluationConfig = { samplesPerPrompt: 4, maxPrompts: 32 };

/** Which tokenizer a run uses (ml/run-tokenizer.ts); absent in a stored config means `byte`. */
export type RunTokenizerConfig =
  | { kind: 'byte' }
  /** Trained on the run's training split; `merges` is absent until then (the stored config is rewritten with them). */
  | { kind: 'bpe'; vocabSize: number; merges?: string[] }
  | { kind: 'base' };

export interface RunConfig {
  seed: number;
  /** Optional in stored configs: absent means the byte tokenizer. */
  tokenizer?: RunTokenizerConfig;
  /** Fraction of feedback rows held out for validation (the seed used 80/20). */
  valFraction: number;
  policyModel: ModelConfig;
  reward: RewardModelConfig;
  sft: SftConfig;
  ppo: PpoConfig;
  gate: QualityGateConfig;
  /** Health check per PPO update and rollback to the last healthy checkpoint. */
  guard: GuardConfig;
  /** PPO updates per checkpointed chunk (one Temporal activity each). */
  updatesPerChunk: number;
  /** Optional in stored configs: absent means DEFAULT_EVALUATION. */
  evaluation?: EvaluationConfig;
  /**
   * Block size and generation lengths come from the feedback's token lengths (spec/data-lengths.ts)
   * when true (the presets), instead of the preset's numbers. A config patch that sets
   * `policyModel.blockSize` or `ppo.generation` lengths turns it off. Absent means false.
   */
  lengthsFromData?: boolean;
}

/** Byte-level tokenizer vocabulary: 256 bytes + BOS + EOS + PAD. */
export const BYTE_VOCAB_SIZE = 259;

const baseOptim: OptimConfig = {
  learningRate: 1e-3,
  warmupSteps: 10,
  decay: 'linear',
  maxGradNorm: 1.0,
  weightDecay: 0.0,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
};

function modelOf(nLayer: number, nHead: number, nEmbd: number, blockSize: number, loraRank: number): ModelConfig {
  return {
    vocabSize: BYTE_VOCAB_SIZE,
    blockSize,
    nLayer,
    nHead,
    nEmbd,
    dropout: 0,
    lora: { rank: loraRank, alpha: 2 * loraRank, dropout: 0 },
  };
}

function ppoOf(partial: Partial<PpoConfig> & Pick<PpoConfig, 'totalUpdates' | 'batchSize' | 'miniBatchSize'>): PpoConfig {
  return {
    // LoRA adapters on a small model tolerate a far larger step than TRL's full-model 1.41e-5.
    // TRL 0.7 has no LR scheduler by default (a constant Adam step); a decay to 0 over the run
    // left the last updates of issue 11's runs learning nothing.
    optim: { ...baseOptim, learningRate: 3e-3, warmupSteps: 2, decay: 'none' },
    gradientAccumulationSteps: 1,
    ppoEpochs: 4,
    initKlCoef: 0.2,
    adaptiveKl: true,
    klTarget: 6,
    klHorizon: 0,
    klEstimator: 'k1',
    gamma: 1,
    lam: 0.95,
    cliprange: 0.2,
    cliprangeValue: 0.2,
    vfCoef: 0.1,
    ratioThreshold: 10,
    whitenAdvantages: true,
    earlyStopping: true,
    targetKl: 0.02,
    missingEosPenalty: null,
    generation: { maxNewTokens: 16, minNewTokens: 1, temperature: 1.0, topK: 0, topP: 1.0 },
    ...partial,
  };
}

/**
 * Presets, named as the seed named them. `quick` finishes in minutes on two CPU cores and
 * is what the tests and the demo use; `small` and `medium` are for real feedback sets.
 */
export const PRESETS = {
  quick: {
    seed: 1234,
    valFraction: 0.2,
    tokenizer: { kind: 'bpe', vocabSize: 512 },
    // 2 × 48 with 4 heads: on BPE tokens (a reply is ~25 of them) this costs what 2 × 32 did on bytes.
    policyModel: modelOf(2, 4, 48, 64, 8),
    reward: {
      model: modelOf(2, 4, 48, 64, 0),
      // 3e-3 made the validation loss jump between epochs and early stopping keep an early epoch
      // (support task, 1000 rows: r(true) 0.75 at 3e-3, 0.80-0.95 at 1e-3).
      optim: { ...baseOptim, learningRate: 1e-3, warmupSteps: 10 },
      trainable: 'full',
      epochs: 40,
      batchSize: 16,
      // The selection half of the validation rows is small and its loss noisy: patience 8 stopped seed 11 at epoch 13.
      earlyStoppingPatience: 12,
      pairwiseWeight: 0,
      syntheticNegatives: 0.25,
      languageModelWeight: 1,
    },
    // Patience 5, not 3: the validation response loss sits on a plateau for several epochs, moving by
    // ±0.005 between them, while the sampled replies keep getting more readable. On the support task
    // (1500 rows, seed 13) patience 3 stopped at epoch 7 keeping epoch 4 (86 % of replies made of the
    // task's phrases); the loss's minimum was epoch 8 (94 %).
    sft: { optim: { ...baseOptim, learningRate: 3e-3, warmupSteps: 10 }, epochs: 40, batchSize: 16, minNormalizedScore: -1, earlyStoppingPatience: 5 },
    // 3e-4, not the 3e-3 tuned on the vowel task: on the support task (test/ml/support-learning) the replies
    // made of real phrases went 84 % → 54 % in 20 updates at 3e-3, and 93 % → 48 % / 90 % → 63 % (seeds 11, 12)
    // at 1e-3, with KL ≈ 2-2.5 nats: the policy left the text it was taught for replies the RM overrates.
    ppo: ppoOf({ totalUpdates: 20, batchSize: 16, miniBatchSize: 8, optim: { ...baseOptim, learningRate: 3e-4, warmupSteps: 2, decay: 'none' } }),
    gate: { minValPearson: 0.3 },
    guard: DEFAULT_GUARD,
    updatesPerChunk: 5,
    evaluation: { samplesPerPrompt: 4, maxPrompts: 16 },
    lengthsFromData: true,
  },
  small: {
    seed: 1234,
    valFraction: 0.2,
    tokenizer: { kind: 'bpe', vocabSize: 1024 },
    policyModel: modelOf(2, 4, 64, 128, 8),
    reward: {
      model: modelOf(2, 4, 64, 128, 0),
      optim: { ...baseOptim, learningRate: 1e-3, warmupSteps: 20 },
      trainable: 'full',
      epochs: 40,
      batchSize: 32,
      earlyStoppingPatience: 5,
      pairwiseWeight: 0,
      syntheticNegatives: 0.25,
      languageModelWeight: 1,
    },
    sft: { optim: { ...baseOptim, learningRate: 1e-3, warmupSteps: 20 }, epochs: 200, batchSize: 32, minNormalizedScore: -1, earlyStoppingPatience: 3 },
    ppo: ppoOf({ totalUpdates: 100, batchSize: 32, miniBatchSize: 8, generation: { maxNewTokens: 32, minNewTokens: 1, temperature: 1.0, topK: 0, topP: 1.0 } }),
    gate: { minValPearson: 0.3 },
    guard: DEFAULT_GUARD,
    updatesPerChunk: 10,
    evaluation: { samplesPerPrompt: 4, maxPrompts: 32 },
    lengthsFromData: true,
  },
  medium: {
    seed: 1234,
    valFraction: 0.2,
    tokenizer: { kind: 'bpe', vocabSize: 2048 },
    policyModel: modelOf(4, 4, 128, 256, 8),
    reward: {
      model: modelOf(4, 4, 128, 256, 0),
      optim: { ...baseOptim, learningRate: 5e-4, warmupSteps: 50 },
      trainable: 'full',
      epochs: 40,
      batchSize: 32,
      earlyStoppingPatience: 5,
      pairwiseWeight: 0,
      syntheticNegatives: 0.25,
      languageModelWeight: 1,
    },
    sft: { optim: { ...baseOptim, learningRate: 5e-4, warmupSteps: 50 }, epochs: 100, batchSize: 32, minNormalizedScore: -1, earlyStoppingPatience: 3 },
    ppo: ppoOf({ totalUpdates: 1000, batchSize: 64, miniBatchSize: 16, generation: { maxNewTokens: 64, minNewTokens: 1, temperature: 1.0, topK: 0, topP: 1.0 } }),
    gate: { minValPearson: 0.3 },
    guard: DEFAULT_GUARD,
    updatesPerChunk: 20,
    evaluation: { samplesPerPrompt: 4, maxPrompts: 64 },
    lengthsFromData: true,
  },
} as const satisfies Record<string, RunConfig>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** Thrown when a configuration is inconsistent; `field` names the offending setting. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** Sizes derived from a PPO config, computed once. */
export interface PpoSizes {
  /** Rows that contribute to one optimizer step: miniBatchSize × gradientAccumulationSteps. */
  backwardBatchSize: number;
  /** Optimizer steps per PPO epoch: batchSize / backwardBatchSize. */
  optimizerStepsPerEpoch: number;
  /** Optimizer steps per PPO update (all epochs). */
  optimizerStepsPerUpdate: number;
}

/**
 * The adaptive controller's horizon in samples: `klHorizon`, or when it is 0 a tenth of the
 * samples the run plans (batchSize × totalUpdates / 10, at least one batch). At the controller's
 * clipped error ±0.2, β can then change by up to (1 + 0.2·10/U)^U ≈ e² ≈ 7× over U updates, so
 * the KL control binds at this run length instead of sitting at init_kl_coef.
 */
export function effectiveKlHorizon(ppo: Pick<PpoConfig, 'klHorizon' | 'batchSize' | 'totalUpdates'>): number {
  if (ppo.klHorizon > 0) return ppo.klHorizon;
  return Math.max(ppo.batchSize, Math.round((ppo.batchSize * ppo.totalUpdates) / 10));
}

export function derivePpoSizes(ppo: PpoConfig): PpoSizes {
  const backwardBatchSize = ppo.miniBatchSize * ppo.gradientAccumulationSteps;
  if (ppo.batchSize % backwardBatchSize !== 0) {
    throw new ConfigError(
      `ppo.batchSize (${ppo.batchSize}) must be a multiple of miniBatchSize × gradientAccumulationSteps ` +
        `(${ppo.miniBatchSize} × ${ppo.gradientAccumulationSteps} = ${backwardBatchSize}); ` +
        `change batchSize to ${Math.max(1, Math.round(ppo.batchSize / backwardBatchSize)) * backwardBatchSize}`,
      'ppo.batchSize',
    );
  }
  const optimizerStepsPerEpoch = ppo.batchSize / backwardBatchSize;
  return { backwardBatchSize, optimizerStepsPerEpoch, optimizerStepsPerUpdate: optimizerStepsPerEpoch * ppo.ppoEpochs };
}

/** Checks a model config; throws ConfigError naming the field. */
export function validateModelConfig(m: ModelConfig, path = 'model'): void {
  if (m.nEmbd % m.nHead !== 0) {
    throw new ConfigError(`${path}.nEmbd (${m.nEmbd}) must be divisible by ${path}.nHead (${m.nHead})`, `${path}.nEmbd`);
  }
  for (const k of ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const) {
    if (!Number.isInteger(m[k]) || m[k] <= 0) throw new ConfigError(`${path}.${k} must be a positive integer`, `${path}.${k}`);
  }
  if (m.lora.rank < 0 || !Number.isInteger(m.lora.rank)) {
    throw new ConfigError(`${path}.lora.rank must be a non-negative integer`, `${path}.lora.rank`);
  }
}

export interface RunOverrides {
  /** Total PPO updates. */
  maxSteps?: number;
  /** PPO learning rate. */
  learningRate?: number;
  seed?: number;
}

/** A deep copy of a preset with the user's overrides applied; the preset is never mutated. */
export function resolveRunConfig(preset: PresetName, overrides: RunOverrides = {}): RunConfig {
  const base = PRESETS[preset];
  if (!base) throw new ConfigError(`unknown preset '${String(preset)}'; use one of ${PRESET_NAMES.join(', ')}`, 'preset');
  const cfg = structuredClone(base) as unknown as RunConfig;
  if (overrides.maxSteps !== undefined) cfg.ppo.totalUpdates = overrides.maxSteps;
  if (overrides.learningRate !== undefined) cfg.ppo.optim.learningRate = overrides.learningRate;
  if (overrides.seed !== undefined) cfg.seed = overrides.seed;
  validateRunConfig(cfg);
  return cfg;
}

/**
 * Checks a whole run config (after any patch); throws ConfigError naming the field. PPO's
 * reference policy is the policy with its LoRA adapters switched off (ml/ppo-forward.ts), so
 * a policy without adapters (rank 0) would be its own reference: KL ≡ 0 and no penalty would
 * ever hold the policy near where it started. Refused rather than trained silently unanchored.
 */
export function validateRunConfig(cfg: RunConfig): void {
  validateRunTokenizer(cfg.tokenizer);
  validateModelConfig(cfg.policyModel, 'policyModel');
  validateModelConfig(cfg.reward.model, 'reward.model');
  if (cfg.policyModel.lora.rank < 1) {
    throw new ConfigError(
      'policyModel.lora.rank must be at least 1: the PPO reference policy is the policy with its adapters off, so without adapters the KL penalty would always be 0',
      'policyModel.lora.rank',
    );
  }
  derivePpoSizes(cfg.ppo);
  validateGuardConfig(cfg.guard);
}

/** Largest trained vocabulary: the embedding is vocab × d, and a few hundred rows settle a few thousand merges at most. */
export const MAX_TRAINED_BPE_VOCAB = 16_384;

/** Throws ConfigError naming `tokenizer.*` when the setting is not one of the kinds RunTokenizerConfig lists. */
export function validateRunTokenizer(t: RunTokenizerConfig | undefined): void {
  if (t === undefined) return;
  if (t.kind === 'byte' || t.kind === 'base') return;
  if (t.kind !== 'bpe') throw new ConfigError(`tokenizer.kind must be byte, bpe or base, got ${JSON.stringify((t as { kind: unknown }).kind)}`, 'tokenizer.kind');
  if (!Number.isInteger(t.vocabSize) || t.vocabSize < MIN_TRAINED_BPE_VOCAB || t.vocabSize > MAX_TRAINED_BPE_VOCAB) {
    throw new ConfigError(`tokenizer.vocabSize must be an integer in [${MIN_TRAINED_BPE_VOCAB}, ${MAX_TRAINED_BPE_VOCAB}], got ${JSON.stringify(t.vocabSize)}`, 'tokenizer.vocabSize');
  }
  if (t.merges !== undefined) {
    if (!Array.isArray(t.merges) || t.merges.some((m) => typeof m !== 'string')) throw new ConfigError('tokenizer.merges must be a list of "a b" strings', 'tokenizer.merges');
    try {
      // Bad data, not a transient fault: every later activity would fail to rebuild the tokenizer.
      bpeTokenizerFromMerges(t.merges);
    } catch (err) {
      throw new ConfigError(`tokenizer.merges: ${(err as Error).message}`, 'tokenizer.merges');
    }
  }
}

/** Checks the guardrail thresholds; throws ConfigError naming the field. */
export function validateGuardConfig(g: GuardConfig): void {
  const remedies = Object.values(GuardRemedies) as string[];
  if (!remedies.includes(g.remedy)) throw new ConfigError(`guard.remedy must be one of ${remedies.join(', ')}`, 'guard.remedy');
  for (const k of ['klPatience', 'maxTrips', 'entropyWindow'] as const) {
    if (!Number.isInteger(g[k]) || g[k] < (k === 'entropyWindow' ? 0 : 1)) throw new ConfigError(`guard.${k} must be an integer ≥ ${k === 'entropyWindow' ? 0 : 1}`, `guard.${k}`);
  }
  for (const k of ['klFactor', 'negativeKlSigmas', 'negativeKlMinEpsilon', 'entropyFloor', 'entropyMaxDrop', 'lengthRatioMin', 'lengthRatioMax', 'eosRateMinRatio', 'eosRateMinBaseline', 'eosRateSigmas', 'rewardHackScoreRise', 'rewardHackKlFactor', 'klRaiseFactor'] as const) {
    if (!Number.isFinite(g[k]) || g[k] < 0) throw new ConfigError(`guard.${k} must be a finite number ≥ 0`, `guard.${k}`);
  }
  if (!(g.temperatureFactor > 0 && g.temperatureFactor <= 1)) throw new ConfigError('guard.temperatureFactor must be in (0, 1]', 'guard.temperatureFactor');
  if (!(g.lengthRatioMin <= g.lengthRatioMax)) throw new ConfigError('guard.lengthRatioMin must not exceed guard.lengthRatioMax', 'guard.lengthRatioMin');
}
