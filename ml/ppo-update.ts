/**
 * PPO phase 6: `ppoEpochs` passes over the rollout batch in shuffled minibatches, with
 * gradient accumulation, the clipped policy + value loss, TRL 0.7's ratio-threshold skip,
 * global-norm clipping and AdamW (TRL 0.7 `PPOTrainer.train_minibatch` / `loss`).
 */
import { tf, type Tensor2D } from './tf';
import type { PpoConfig, PpoSizes } from '../spec/run-config';
import type { GptModel } from './model';
import type { Rng } from './rng';
import { guardedStep, type AdamW } from './optimizer';
import { clippedPolicyLoss, clippedValueLoss, entropyFromLogits, maskedMean } from './ppo-math';
import { shiftedForward } from './ppo-forward';
import { yieldToEventLoop } from './event-loop';

/** Everything one PPO update trains on; rows are rollouts. */
export interface UpdateBatch {
  ids: Tensor2D; // [B, T] int32
  attentionMask: Tensor2D; // [B, T]
  responseMask: Tensor2D; // [B, T-1]
  oldLogprobs: Tensor2D; // [B, T-1]
  oldValues: Tensor2D; // [B, T-1]
  advantages: Tensor2D; // [B, T-1]
  returns: Tensor2D; // [B, T-1]
}

export interface UpdateDeps {
  policy: GptModel;
  /** The trained variables (LoRA + value head), in the optimizer's order. */
  vars: tf.Variable[];
  optimizer: AdamW;
  ppo: PpoConfig;
  sizes: PpoSizes;
  /** Sampling temperature (the log-probs are those of the sampled distribution). */
  temperature: number;
  /** Learning rate of the optimizer step with this run-global index. */
  learningRateAt: (step: number) => number;
}

/** Per-minibatch statistics, averaged over every minibatch of the update. */
export interface UpdateStats {
  policyLoss: number;
  valueLoss: number;
  totalLoss: number;
  clipFrac: number;
  valueClipFrac: number;
  approxKl: number;
  ratioMean: number;
  ratioVar: number;
  entropy: number;
  /** Minibatches whose gradients were dropped because the mean ratio exceeded `ratioThreshold`. */
  skippedMinibatches: number;
  /** Learning rate of the last optimizer step. */
  learningRate: number;
  /** Optimizer steps taken in this update (the schedule position advances by optimizerStepsPerUpdate regardless). */
  optimizerSteps: number;
  /** Optimizer steps skipped because the accumulated gradient norm was not finite (ml/optimizer guardedStep). */
  nonFiniteSkippedSteps: number;
  /** PPO epochs run; fewer than `ppoEpochs` when approxkl early stopping ended the update. */
  epochsRun: number;
}

type MinibatchStats = Omit<UpdateStats, 'skippedMinibatches' | 'learningRate' | 'optimizerSteps' | 'nonFiniteSkippedSteps' | 'epochsRun'>;

/** Rows of every batch tensor picked by `rows`. */
function selectRows(batch: UpdateBatch, rows: number[]): UpdateBatch {
  return tf.tidy(() => {
    const idx = tf.tensor1d(rows, 'int32'); // [b]
    const pick = (t: Tensor2D) => tf.gather(t, idx, 0) as Tensor2D;
    return {
      ids: pick(batch.ids), // [b, T]
      attentionMask: pick(batch.attentionMask), // [b, T]
      responseMask: pick(batch.responseMask), // [b, T-1]
      oldLogprobs: pick(batch.oldLogprobs),
      oldValues: pick(batch.oldValues),
      advantages: pick(batch.advantages),
      returns: pick(batch.returns),
    };
  });
}

function disposeBatch(b: UpdateBatch): void {
  tf.dispose([b.ids, b.attentionMask, b.responseMask, b.oldLogprobs, b.oldValues, b.advantages, b.returns]);
}

/**
 * Gradients of one minibatch's loss, L = L_clip + vfCoef·L_V (TRL 0.7), divided by the
 * accumulation steps so the summed gradients of a backward batch are its mean.
 * Returns one gradient per variable (zeros for a variable the loss does not reach).
 */
function minibatchGradients(deps: UpdateDeps, mb: UpdateBatch): { grads: tf.Tensor[]; stats: MinibatchStats } {
  const { ppo } = deps;
  let kept: tf.Scalar[] = [];
  const lossFn = (): tf.Scalar => {
    // Only deps.vars are differentiated: the frozen base forms no weight gradients.
    const fwd = shiftedForward(deps.policy, mb.ids, mb.attentionMask, true, deps.temperature, deps.vars); // [b, T-1] ×2, [b, T-1, V]
    const pg = clippedPolicyLoss(fwd.logprobs, mb.oldLogprobs, mb.advantages, mb.responseMask, ppo.cliprange);
    const vf = clippedValueLoss(fwd.values, mb.oldValues, mb.returns, mb.responseMask, ppo.cliprangeValue);
    const total = tf.add(pg.loss, tf.mul(vf.loss, ppo.vfCoef)) as tf.Scalar;
    const entropy = maskedMean(entropyFromLogits(fwd.logits), mb.responseMask) as tf.Scalar;
    // Statistics leave the gradient scope; variableGrads disposes everything else.
    kept = [pg.loss, vf.loss, total, pg.clipFrac, vf.clipFrac, pg.approxKl, pg.ratioMean, pg.ratioVar, entropy].map((t) =>
      tf.keep(t),
    );
    return tf.div(total, ppo.gradientAccumulationSteps) as tf.Scalar;
  };
  const { value, grads: named } = tf.variableGrads(lossFn, deps.vars);
  const grads = deps.vars.map((v) => named[v.name] ?? tf.zerosLike(v));
  const [policyLoss, valueLoss, totalLoss, clipFrac, valueClipFrac, approxKl, ratioMean, ratioVar, entropy] = kept.map(
    (t) => t.dataSync()[0],
  );
  tf.dispose([value, ...kept]);
  return { grads, stats: { policyLoss, valueLoss, totalLoss, clipFrac, valueClipFrac, approxKl, ratioMean, ratioVar, entropy } };
}

/** Adds `b` into the running sum `a` (disposing both inputs); `a` null starts the sum. */
function accumulate(a: tf.Tensor[] | null, b: tf.Tensor[]): tf.Tensor[] {
  if (a === null) return b;
  const sum = a.map((g, i) => tf.add(g, b[i]));
  tf.dispose([...a, ...b]);
  return sum;
}

/**
 * One backward batch: its minibatches' gradients are summed (gradient accumulation) and
 * applied in one clipped AdamW step. A minibatch whose mean ratio exceeds
 * `ratioThreshold` contributes no gradient (TRL 0.7 zeroes its loss); if all of them are
 * skipped, no optimizer step is taken.
 * Each minibatch's forward + backward is synchronous tfjs work (seconds on a large base), so
 * the event loop gets a turn after each one: the activity's heartbeat timer and a
 * cancellation then run even when a whole update outlasts the heartbeat timeout.
 */
async function backwardBatchStep(
  deps: UpdateDeps,
  batch: UpdateBatch,
  minibatchRows: number[][],
  learningRate: number,
): Promise<{ stats: MinibatchStats[]; skipped: number; stepped: boolean; nonFinite: boolean }> {
  let sum: tf.Tensor[] | null = null;
  const stats: MinibatchStats[] = [];
  let skipped = 0;
  for (const rows of minibatchRows) {
    const mb = selectRows(batch, rows);
    const { grads, stats: s } = minibatchGradients(deps, mb);
    disposeBatch(mb);
    stats.push(s);
    await yieldToEventLoop();
    if (s.ratioMean > deps.ppo.ratioThreshold) {
      skipped += 1;
      tf.dispose(grads);
      continue;
    }
    sum = accumulate(sum, grads);
  }
  // Unlike TRL 0.7, which still calls optimizer.step() on zeroed losses, nothing steps here (docs/metrics.md).
  if (sum === null) return { stats, skipped, stepped: false, nonFinite: false };
  const { stepped } = guardedStep(deps.optimizer, sum, deps.ppo.optim.maxGradNorm, learningRate);
  tf.dispose(sum);
  return { stats, skipped, stepped, nonFinite: !stepped };
}

/** Splits `xs` into consecutive chunks of `size`. */
function chunk<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/**
 * Phase 6: `ppoEpochs` passes; each pass shuffles the rows with `rng` and walks backward
 * batches of miniBatchSize × gradientAccumulationSteps rows. `firstStep` is the run-global
 * index of this update's first optimizer step (the LR schedule's position).
 */
export async function runPpoEpochs(deps: UpdateDeps, batch: UpdateBatch, rng: Rng, firstStep: number): Promise<UpdateStats> {
  const { ppo, sizes } = deps;
  const batchRows = batch.ids.shape[0];
  const all: MinibatchStats[] = [];
  let skipped = 0;
  let stepsTaken = 0;
  let nonFiniteSkippedSteps = 0;
  let step = firstStep;
  let learningRate = deps.learningRateAt(step);
  let epochsRun = 0;
  for (let epoch = 0; epoch < ppo.ppoEpochs; epoch++) {
    const order = rng.shuffle(Array.from({ length: batchRows }, (_, i) => i));
    const epochStats: MinibatchStats[] = [];
    for (const backwardRows of chunk(order, sizes.backwardBatchSize)) {
      learningRate = deps.learningRateAt(step);
      const r = await backwardBatchStep(deps, batch, chunk(backwardRows, ppo.miniBatchSize), learningRate);
      epochStats.push(...r.stats);
      skipped += r.skipped;
      if (r.stepped) stepsTaken += 1;
      if (r.nonFinite) nonFiniteSkippedSteps += 1;
      step += 1;
    }
    all.push(...epochStats);
    epochsRun += 1;
    if (klEarlyStop(ppo, epochStats)) break;
  }
  const mean = (k: keyof MinibatchStats) => all.reduce((a, s) => a + s[k], 0) / all.length;
  return {
    policyLoss: mean('policyLoss'),
    valueLoss: mean('valueLoss'),
    totalLoss: mean('totalLoss'),
    clipFrac: mean('clipFrac'),
    valueClipFrac: mean('valueClipFrac'),
    approxKl: mean('approxKl'),
    ratioMean: mean('ratioMean'),
    ratioVar: mean('ratioVar'),
    entropy: mean('entropy'),
    skippedMinibatches: skipped,
    learningRate,
    optimizerSteps: stepsTaken,
    nonFiniteSkippedSteps,
    epochsRun,
  };
}

/**
 * TRL 0.7 `_early_stop`: after an epoch, stop when its KL exceeds 1.5 × target_kl. Ours is the
 * epoch's mean approxkl (every minibatch, not only the last one as TRL reads it).
 */
export function klEarlyStop(ppo: Pick<PpoConfig, 'earlyStopping' | 'targetKl'>, epochStats: readonly { approxKl: number }[]): boolean {
  if (!ppo.earlyStopping || ppo.targetKl === undefined || epochStats.length === 0) return false;
  const approxKl = epochStats.reduce((a, s) => a + s.approxKl, 0) / epochStats.length;
  return approxKl > 1.5 * ppo.targetKl;
}
