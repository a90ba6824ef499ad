/**
 * PPO trainer with TRL 0.7 PPOTrainer semantics (Ziegler et al. 2019's recipe: adaptive
 * KL penalty, GAE, clipped objective), split into named phases:
 *   1-2 rollout + score (ppo-rollout.ts) → 3 no-grad forward of policy and reference
 *   (ppo-forward.ts) → 4-5 KL-penalised rewards, GAE, whitening (ppo-advantages.ts) →
 *   6 minibatch epochs (ppo-update.ts) → 7 KL-controller update → 8 metrics.
 * Only the LoRA adapters and the value head train; the reference policy is the same model
 * with adapters off, so no second copy of the weights exists.
 *
 * Exact resume: `toCheckpoint()` captures every input to the next update (ppo-state.ts);
 * `PpoTrainer.restore` in a fresh process continues bit-for-bit on the same backend.
 */
import { tf } from './tf';
import { derivePpoSizes, type PpoSizes, type RunConfig } from '../spec/run-config';
import type { GptModel } from './model';
import type { Checkpoint } from './checkpoint';
import type { RewardModel } from './reward-model';
import { Rng } from './rng';
import { yieldToEventLoop } from './event-loop';
import type { Tokenizer } from './tokenizer';
import { AdamW, learningRateAt } from './optimizer';
import { createKlController, restoreKlController, type KlController } from './kl-controller';
import { MetricKeys, type UpdateMetrics } from '../common/names';
import { SAMPLES_PER_UPDATE, type UpdateSample } from '../common/run-events';
import { PromptCursor, rollout, type RolloutDeps, type ScoredRollout } from './ppo-rollout';
import { packSequences, rolloutForward } from './ppo-forward';
import { computeAdvantages, type Advantages } from './ppo-advantages';
import { runPpoEpochs, type UpdateBatch, type UpdateDeps, type UpdateStats } from './ppo-update';
import {
  PPO_STATE_FORMAT,
  applyStateTensors,
  checkCompatible,
  parsePpoState,
  fingerprintPrompts,
  fingerprintVariables,
  stateTensors,
  type NamedVariable,
  type PpoCheckpoint,
} from './ppo-state';
import { NonFiniteMetricError, PpoStateError } from './ppo-errors';

export interface PpoTrainerOptions {
  config: RunConfig;
  /** The SFT policy; its LoRA adapters and value head are trained in place. */
  policy: GptModel;
  reward: RewardModel;
  tokenizer: Tokenizer;
  /** Training prompts; their order is part of the run (the cursor stores indices). */
  prompts: readonly string[];
  seed: number;
}

/** What a guardrail remedy may change in a running trainer. */
export interface TrainerRemedies {
  /** Multiplies the scheduled learning rate. */
  learningRateScale: number;
  /** Sampling (and PPO forward) temperature; null keeps the config's. */
  temperature: number | null;
}

export interface SetKlArgs {
  coef?: number;
  target?: number;
}

const nowSeconds = () => performance.now() / 1000;
const average = (xs: readonly number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
/** Standard error of the mean, sample std / √n (0 for n < 2): the health check's negative-KL tolerance. */
const standardError = (xs: readonly number[]) => {
  if (xs.length < 2) return 0;
  const mean = average(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1) / xs.length);
};

export class PpoTrainer {
  private readonly sizes: PpoSizes;
  private readonly trainable: NamedVariable[];
  private readonly optimizer: AdamW;
  private readonly frozenSha256: string;
  private readonly promptsSha256: string;
  private done = 0;
  /** Guardrail remedies (issue 14), from the next update on; the guard state beside each checkpoint carries them. */
  private remedies: TrainerRemedies = { learningRateScale: 1, temperature: null };
  private samples: UpdateSample[] = [];

  private constructor(
    private readonly opts: PpoTrainerOptions,
    private readonly rng: Rng,
    private kl: KlController,
    private cursor: PromptCursor,
  ) {
    this.sizes = derivePpoSizes(opts.config.ppo);
    this.trainable = trainableNamed(opts.policy);
    this.optimizer = new AdamW(
      this.trainable.map((v) => v.variable),
      opts.config.ppo.optim,
    );
    this.frozenSha256 = fingerprintVariables(frozenNamed(opts.policy, this.trainable));
    this.promptsSha256 = fingerprintPrompts(opts.prompts);
  }

  /** A trainer at update 0: fresh Adam moments, β = initKlCoef, a seeded prompt order. */
  static create(opts: PpoTrainerOptions): PpoTrainer {
    const rng = new Rng(opts.seed);
    const cursor = PromptCursor.create(opts.prompts.length, rng);
    return new PpoTrainer(opts, rng, createKlController(opts.config.ppo), cursor);
  }

  /**
   * A trainer continuing from a checkpoint written by `toCheckpoint()`. `opts.policy` must
   * be the SFT policy the run started from (its frozen weights are verified); the trained
   * weights are overwritten from the checkpoint.
   */
  static restore(opts: PpoTrainerOptions, checkpoint: Checkpoint): PpoTrainer {
    const state = parsePpoState(checkpoint.state);
    const cursor = PromptCursor.fromState(opts.prompts.length, state.cursor);
    const trainer = new PpoTrainer(opts, Rng.fromState(state.rng), restoreKlController(state.kl), cursor);
    checkCompatible(state, trainer.trainable, trainer.frozenSha256, trainer.promptsSha256);
    trainer.optimizer.setState(applyStateTensors(checkpoint.tensors, state, trainer.trainable));
    trainer.done = state.updatesDone;
    return trainer;
  }

  /** PPO updates completed (checkpointed). */
  get updatesDone(): number {
    return this.done;
  }

  /**
   * The first completions of the last update's rollout batch, decoded, with their scores
   * (issue 12: completions are seen during training; trl #2099). Read-only: taking them draws
   * no random numbers, so the run stays bit-identical. Empty before the first update.
   */
  get lastSamples(): UpdateSample[] {
    return this.samples;
  }

  get klCoef(): number {
    return this.kl.value;
  }

  get klTarget(): number {
    return this.kl.target;
  }

  /** Changes β and/or the adaptive target from the next update on (operator signal). */
  setKl(args: SetKlArgs): void {
    if (args.coef !== undefined) this.kl.setValue(args.coef);
    if (args.target !== undefined) this.kl.setTarget(args.target);
  }

  /** Applies guardrail remedies from the next update on. */
  setRemedies(remedies: TrainerRemedies): void {
    this.remedies = { ...remedies };
  }

  /** The variables PPO trains (LoRA + value head), for the guard's finiteness check. */
  get trainableVariables(): readonly tf.Variable[] {
    return this.trainable.map((v) => v.variable);
  }

  private get temperature(): number {
    return this.remedies.temperature ?? this.opts.config.ppo.generation.temperature;
  }

  /**
   * One PPO update. Throws NonFiniteMetricError when a metric is NaN/∞; the trainer is then
   * unusable and the caller resumes from the last checkpoint.
   */
  async step(): Promise<UpdateMetrics> {
    const { ppo } = this.opts.config;
    const klCoef = this.kl.value;
    const tStart = nowSeconds();
    const scored = await rollout(this.rolloutDeps(), this.cursor, ppo.batchSize, this.rng);
    const tRollout = nowSeconds() - tStart;
    this.samples = sampleCompletions(scored, this.opts.tokenizer, SAMPLES_PER_UPDATE);
    await yieldToEventLoop();

    const { batch, advantages } = this.prepareBatch(scored, klCoef);
    await yieldToEventLoop();
    const tUpdateStart = nowSeconds();
    let stats: UpdateStats;
    try {
      stats = await runPpoEpochs(this.updateDeps(), batch, this.rng, this.done * this.sizes.optimizerStepsPerUpdate);
    } finally {
      tf.dispose(Object.values(batch));
    }
    const tUpdate = nowSeconds() - tUpdateStart;

    const meanKl = average(advantages.klPerSequence);
    const metrics = buildMetrics(scored, advantages, stats, klCoef, { tRollout, tUpdate, tTotal: nowSeconds() - tStart });
    assertFinite(metrics, this.done);
    // Ziegler et al. 2019 / TRL 0.7: the controller sees the batch's mean sequence KL, nSteps = batch size.
    this.kl.update(meanKl, ppo.batchSize);
    this.done += 1;
    return metrics;
  }

  /** Phases 3-5: pack, no-grad forward passes, rewards and advantages. */
  private prepareBatch(scored: ScoredRollout, klCoef: number): { batch: UpdateBatch; advantages: Advantages } {
    const { ppo } = this.opts.config;
    const packed = packSequences(scored, this.opts.tokenizer.padId);
    const fwd = rolloutForward(this.opts.policy, packed, this.temperature);
    const advantages = computeAdvantages(fwd, packed.responseMask, scored.scores, klCoef, ppo);
    tf.dispose(fwd.refLogprobs);
    const batch: UpdateBatch = {
      ids: packed.ids,
      attentionMask: packed.attentionMask,
      responseMask: packed.responseMask,
      oldLogprobs: fwd.logprobs,
      oldValues: fwd.values,
      advantages: advantages.advantages,
      returns: advantages.returns,
    };
    return { batch, advantages };
  }

  private rolloutDeps(): RolloutDeps {
    const { config, policy, reward, tokenizer, prompts } = this.opts;
    return {
      policy,
      reward,
      tokenizer,
      prompts,
      generation: { ...config.ppo.generation, temperature: this.temperature },
      blockSize: config.policyModel.blockSize,
      missingEosPenalty: config.ppo.missingEosPenalty,
    };
  }

  private updateDeps(): UpdateDeps {
    const { ppo } = this.opts.config;
    const totalSteps = ppo.totalUpdates * this.sizes.optimizerStepsPerUpdate;
    return {
      policy: this.opts.policy,
      vars: this.trainable.map((v) => v.variable),
      optimizer: this.optimizer,
      ppo,
      sizes: this.sizes,
      temperature: this.temperature,
      learningRateAt: (step: number) => this.remedies.learningRateScale * learningRateAt(step, totalSteps, ppo.optim),
    };
  }

  /** Everything needed to continue exactly here, for ml/checkpoint's writeCheckpoint. */
  toCheckpoint(): PpoCheckpoint {
    const adam = this.optimizer.getState();
    return {
      tensors: stateTensors(this.trainable, adam),
      state: {
        format: PPO_STATE_FORMAT,
        seed: this.opts.seed,
        updatesDone: this.done,
        variableNames: this.trainable.map((v) => v.name),
        adam: { step: adam.step, beta1Power: adam.beta1Power, beta2Power: adam.beta2Power },
        rng: this.rng.getState(),
        kl: this.kl.getState(),
        cursor: this.cursor.getState(),
        frozenWeightsSha256: this.frozenSha256,
        promptsSha256: this.promptsSha256,
      },
    };
  }

  /** Frees the optimizer's moments. The policy and reward model belong to the caller. */
  dispose(): void {
    this.optimizer.dispose();
  }
}

/** The variables PPO trains (LoRA + value head), with their stable names, in fixed order. */
function trainableNamed(policy: GptModel): NamedVariable[] {
  const named = policy.namedVariables();
  return policy.trainableVariables('lora').map((variable) => {
    const entry = named.find((n) => n.variable === variable);
    if (entry === undefined) throw new PpoStateError('a trainable variable is missing from namedVariables()', 'variableNames');
    return { name: entry.name, variable };
  });
}

/** Every policy variable PPO does not train, in namedVariables() order. */
function frozenNamed(policy: GptModel, trainable: readonly NamedVariable[]): NamedVariable[] {
  const trained = new Set(trainable.map((v) => v.variable));
  return policy
    .namedVariables()
    .filter((n) => !trained.has(n.variable))
    .map(({ name, variable }) => ({ name, variable }));
}

/** The first `n` rows of a rollout batch as text (specials dropped by `decode`) with their scores. */
export function sampleCompletions(scored: ScoredRollout, tokenizer: Tokenizer, n: number): UpdateSample[] {
  return scored.queries.slice(0, n).map((query, i) => ({
    prompt: tokenizer.decode(query),
    response: tokenizer.decode(scored.responses[i]),
    score: scored.scores[i],
  }));
}

interface Timings {
  tRollout: number;
  tUpdate: number;
  tTotal: number;
}

/** Phase 8: one value per MetricKeys entry (meanings in docs/metrics.md). */
function buildMetrics(scored: ScoredRollout, adv: Advantages, stats: UpdateStats, klCoef: number, t: Timings): UpdateMetrics {
  const meanScore = average(scored.scores);
  const meanNonScore = average(adv.nonScorePerSequence);
  return {
    [MetricKeys.klObjective]: average(adv.klPerSequence),
    [MetricKeys.scores]: meanScore,
    [MetricKeys.rlhfReward]: meanScore + meanNonScore,
    [MetricKeys.nonScoreReward]: meanNonScore,
    [MetricKeys.entropy]: stats.entropy,
    [MetricKeys.approxKl]: stats.approxKl,
    [MetricKeys.clipFrac]: stats.clipFrac,
    [MetricKeys.policyLoss]: stats.policyLoss,
    [MetricKeys.valueLoss]: stats.valueLoss,
    [MetricKeys.totalLoss]: stats.totalLoss,
    [MetricKeys.valueClipFrac]: stats.valueClipFrac,
    [MetricKeys.ratio]: stats.ratioMean,
    [MetricKeys.ratioVar]: stats.ratioVar,
    [MetricKeys.skippedMinibatches]: stats.skippedMinibatches,
    [MetricKeys.nonFiniteSkippedSteps]: stats.nonFiniteSkippedSteps,
    [MetricKeys.epochsRun]: stats.epochsRun,
    [MetricKeys.klCoef]: klCoef,
    [MetricKeys.learningRate]: stats.learningRate,
    [MetricKeys.responseLength]: average(scored.responses.map((r) => r.length)),
    [MetricKeys.eosRate]: average(scored.endedWithEos.map((e) => (e ? 1 : 0))),
    [MetricKeys.klStdErr]: standardError(adv.klPerSequence),
    [MetricKeys.timeRollout]: t.tRollout,
    [MetricKeys.timeUpdate]: t.tUpdate,
    [MetricKeys.timeTotal]: t.tTotal,
  };
}

function assertFinite(metrics: UpdateMetrics, update: number): void {
  for (const [key, value] of Object.entries(metrics)) {
    if (!Number.isFinite(value)) {
      throw new NonFiniteMetricError(`PPO update ${update + 1}: metric ${key} is ${value}`, key, value, update);
    }
  }
}
