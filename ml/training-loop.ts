/**
 * Shared pieces of a supervised training loop: seeded mini-batch order, one clipped
 * AdamW gradient step, and early stopping on a validation loss. Used by the reward model
 * and the SFT warm start; nothing here knows which loss it is minimising.
 */
import { tf } from './tf';
import type { Rng } from './rng';
import { guardedStep, type AdamW } from './optimizer';

/**
 * Row indices 0..n-1 in a seeded random order, cut into mini-batches of at most
 * `batchSize` (the last one may be shorter; no row is dropped).
 */
export function shuffledBatches(n: number, batchSize: number, rng: Rng): number[][] {
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const batches: number[][] = [];
  for (let start = 0; start < n; start += batchSize) batches.push(order.slice(start, start + batchSize));
  return batches;
}

/** Optimizer steps of a run of `epochs` passes over `n` rows (the schedule's length). */
export function stepsForEpochs(n: number, batchSize: number, epochs: number): number {
  return Math.ceil(n / batchSize) * epochs;
}

export interface GradientStepOptions {
  /** Variables the step updates, in the optimizer's order. */
  vars: tf.Variable[];
  optimizer: AdamW;
  /** Builds the scalar loss from the current variable values. */
  lossFn: () => tf.Scalar;
  /** Global-norm clip (0 disables). */
  maxGradNorm: number;
  learningRate: number;
}

export interface GradientStepResult {
  /** The loss before the step. */
  loss: number;
  /** Global L2 norm of the gradients before clipping. */
  gradNorm: number;
  /** False when a non-finite gradient norm skipped the step (ml/optimizer guardedStep). */
  stepped: boolean;
}

/**
 * One optimizer step: gradients of `lossFn` w.r.t. `vars`, global-norm clipping (Pascanu
 * et al. 2013), then AdamW, skipped when the gradient norm is not finite. A variable the loss does not reach gets a zero gradient, so
 * the optimizer always sees one gradient per variable. Every intermediate is disposed.
 */
export function gradientStep(opts: GradientStepOptions): GradientStepResult {
  const { vars, optimizer, lossFn, maxGradNorm, learningRate } = opts;
  const { value, grads: named } = tf.variableGrads(lossFn, vars);
  const grads = vars.map((v) => named[v.name] ?? tf.zerosLike(v));
  const { globalNorm: gradNorm, stepped } = guardedStep(optimizer, grads, maxGradNorm, learningRate);
  const loss = value.dataSync()[0];
  tf.dispose([value, grads]);
  return { loss, gradNorm, stepped };
}

export interface EarlyStoppingDecision {
  /** This epoch's loss is the best so far (keep these weights). */
  improved: boolean;
  /** `patience` epochs in a row passed without improvement: stop training. */
  stop: boolean;
}

/**
 * Early stopping on a validation loss with patience (Prechelt, "Early Stopping — But
 * When?", 1998). An epoch improves when its loss is strictly below the best seen; a NaN
 * loss never improves.
 */
export class EarlyStopping {
  private best = Infinity;
  private bestEpochSeen = -1;
  private sinceBest = 0;

  constructor(private readonly patience: number) {
    if (!Number.isInteger(patience) || patience < 1) throw new RangeError(`patience must be a positive integer, got ${patience}`);
  }

  observe(epoch: number, loss: number): EarlyStoppingDecision {
    if (loss < this.best) {
      this.best = loss;
      this.bestEpochSeen = epoch;
      this.sinceBest = 0;
      return { improved: true, stop: false };
    }
    this.sinceBest += 1;
    return { improved: false, stop: this.sinceBest >= this.patience };
  }

  /** Epoch of the best loss (−1 before any finite loss). */
  get bestEpoch(): number {
    return this.bestEpochSeen;
  }

  get bestLoss(): number {
    return this.best;
  }
}
