/**
 * AdamW with explicit, serialisable state, gradient clipping and the learning-rate schedule.
 *
 * tf.train.adam keeps its moments in internal variables whose order and names are not part
 * of its API, so a checkpoint could not restore them reliably. This optimizer owns one
 * first- and one second-moment variable per parameter, in the caller's fixed order, and
 * `getState()` / `setState()` move them to and from plain Float32Arrays.
 */
import { tf } from './tf';
import type { OptimConfig } from '../spec/run-config';

/** Everything AdamW needs to continue exactly where it stopped. */
export interface AdamState {
  /** Optimizer steps taken so far. */
  step: number;
  /** β1^step, kept as a running product so resume does not recompute a power. */
  beta1Power: number;
  /** β2^step. */
  beta2Power: number;
  /** First moments, one per variable, in the constructor's order. */
  m: Float32Array[];
  /** Second moments, one per variable. */
  v: Float32Array[];
}

export interface AdamWOptions {
  /**
   * Per variable: whether decoupled weight decay applies (default: all). Biases, norms and
   * embeddings usually opt out (nanoGPT's configure_optimizers).
   */
  decay?: boolean[];
}

/**
 * Adam (Kingma & Ba 2015, Algorithm 1, with bias correction) with decoupled weight decay
 * (Loshchilov & Hutter 2019, AdamW), written as PyTorch's AdamW does:
 *   θ ← θ − lr·λ·θ;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *   θ ← θ − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + ε).
 */
export class AdamW {
  private readonly vars: tf.Variable[];
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private readonly decay: boolean[];
  private stepCount = 0;
  private beta1Power = 1;
  private beta2Power = 1;

  constructor(
    vars: tf.Variable[],
    private readonly cfg: OptimConfig,
    opts: AdamWOptions = {},
  ) {
    if (opts.decay && opts.decay.length !== vars.length) {
      throw new RangeError(`AdamW decay flags: expected ${vars.length}, got ${opts.decay.length}`);
    }
    this.vars = [...vars];
    this.decay = opts.decay ? [...opts.decay] : vars.map(() => true);
    // tidy frees the zero tensors; variables are never tracked by a tidy scope, so they survive.
    this.m = vars.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
    this.v = vars.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
  }

  /** Optimizer steps taken so far. */
  get stepsTaken(): number {
    return this.stepCount;
  }

  /** One update of every variable; `grads[i]` belongs to `vars[i]`. Grads are not disposed. */
  step(grads: tf.Tensor[], lr: number): void {
    if (grads.length !== this.vars.length) {
      throw new RangeError(`AdamW.step: expected ${this.vars.length} gradients, got ${grads.length}`);
    }
    if (!Number.isFinite(lr) || lr < 0) throw new RangeError(`AdamW.step: learning rate must be finite and ≥ 0, got ${lr}`);
    const { beta1, beta2, eps, weightDecay } = this.cfg;
    this.stepCount += 1;
    this.beta1Power *= beta1;
    this.beta2Power *= beta2;
    // Scalar factors in float64 on the JS side; only the element-wise work runs in float32.
    const stepSize = lr / (1 - this.beta1Power);
    const sqrtBias2 = Math.sqrt(1 - this.beta2Power);
    const shrink = 1 - lr * weightDecay;
    tf.tidy(() => {
      for (let i = 0; i < this.vars.length; i++) {
        const g = grads[i];
        const x = this.vars[i];
        if (!shapesEqual(g.shape, x.shape)) {
          throw new RangeError(`AdamW.step: gradient ${i} has shape [${g.shape}] but variable '${x.name}' has [${x.shape}]`);
        }
        const m = tf.add(tf.mul(this.m[i], beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(this.v[i], beta2), tf.mul(tf.square(g), 1 - beta2));
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtBias2), eps);
        const decayed = this.decay[i] && weightDecay !== 0 ? tf.mul(x, shrink) : x;
        x.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), stepSize)));
        this.m[i].assign(m);
        this.v[i].assign(v);
      }
    });
  }

  /** A copy of the full state (moments read back from the backend). */
  getState(): AdamState {
    return {
      step: this.stepCount,
      beta1Power: this.beta1Power,
      beta2Power: this.beta2Power,
      m: this.m.map((t) => Float32Array.from(t.dataSync() as Float32Array)),
      v: this.v.map((t) => Float32Array.from(t.dataSync() as Float32Array)),
    };
  }

  /** Restores a state taken from an optimizer over variables of the same shapes and order. */
  setState(s: AdamState): void {
    if (s.m.length !== this.vars.length || s.v.length !== this.vars.length) {
      throw new RangeError(`AdamState holds ${s.m.length}/${s.v.length} moments for ${this.vars.length} variables`);
    }
    if (!Number.isInteger(s.step) || s.step < 0) throw new RangeError(`AdamState.step must be a non-negative integer, got ${s.step}`);
    for (let i = 0; i < this.vars.length; i++) {
      const size = this.vars[i].size;
      if (s.m[i].length !== size || s.v[i].length !== size) {
        throw new RangeError(`AdamState moment ${i} has ${s.m[i].length}/${s.v[i].length} values; variable '${this.vars[i].name}' has ${size}`);
      }
    }
    tf.tidy(() => {
      for (let i = 0; i < this.vars.length; i++) {
        const shape = this.vars[i].shape;
        this.m[i].assign(tf.tensor(s.m[i], shape, 'float32'));
        this.v[i].assign(tf.tensor(s.v[i], shape, 'float32'));
      }
    });
    this.stepCount = s.step;
    this.beta1Power = s.beta1Power;
    this.beta2Power = s.beta2Power;
  }

  /** Frees the moment variables (not the parameters, which the model owns). */
  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}

function shapesEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export interface ClippedGradients {
  /** New tensors, one per input gradient; the caller disposes them (and the inputs). */
  grads: tf.Tensor[];
  /** L2 norm of all gradients together, before clipping (NaN/Infinity passes through). */
  globalNorm: number;
}

/**
 * Rescales the gradients so their joint L2 norm is at most `maxNorm` (Pascanu et al. 2013,
 * "On the difficulty of training RNNs"; coefficient maxNorm / (norm + 1e-6) as PyTorch's
 * clip_grad_norm_). `maxNorm` 0 disables clipping; a non-finite norm leaves the gradients
 * unscaled so the caller's guardrail sees the problem instead of a silently zeroed step.
 */
export function clipByGlobalNorm(grads: tf.Tensor[], maxNorm: number): ClippedGradients {
  if (grads.length === 0) return { grads: [], globalNorm: 0 };
  const globalNorm = tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))).dataSync()[0]);
  const coef = maxNorm > 0 && Number.isFinite(globalNorm) ? Math.min(1, maxNorm / (globalNorm + 1e-6)) : 1;
  const out = grads.map((g) => (coef < 1 ? tf.mul(g, coef) : tf.clone(g)));
  return { grads: out, globalNorm };
}

export interface GuardedStepResult {
  /** Joint L2 norm of the gradients before clipping (NaN/Infinity when they are not finite). */
  globalNorm: number;
  /** False when the step was skipped because `globalNorm` is not finite. */
  stepped: boolean;
}

/**
 * Global-norm clipping then one AdamW step, unless the gradients' norm is not finite: then
 * nothing changes (no weight, no moment, no step count), so one NaN or overflowing minibatch
 * cannot poison the moments for the rest of the run; the caller counts the skip
 * (`optim/skipped_steps`, docs/metrics.md). PyTorch's clip_grad_norm_ only errors on a
 * non-finite norm when asked (error_if_nonfinite), and TRL steps regardless; this skip is ours.
 * `grads` are not disposed.
 */
export function guardedStep(optimizer: AdamW, grads: tf.Tensor[], maxGradNorm: number, learningRate: number): GuardedStepResult {
  const clipped = clipByGlobalNorm(grads, maxGradNorm); // Pascanu et al. 2013
  try {
    if (!Number.isFinite(clipped.globalNorm)) return { globalNorm: clipped.globalNorm, stepped: false };
    optimizer.step(clipped.grads, learningRate);
    return { globalNorm: clipped.globalNorm, stepped: true };
  } finally {
    tf.dispose(clipped.grads);
  }
}

/**
 * Learning rate for optimizer step `step` (0-based) of `totalSteps`: linear warm-up over
 * `warmupSteps` as nanoGPT (lr·(step+1)/(warmup+1), so the first step is not wasted at 0),
 * then `decay` from lr towards 0, reaching 0 just after the last step: 'linear' (TRL /
 * transformers get_linear_schedule_with_warmup) or 'cosine' (Loshchilov & Hutter 2017, SGDR).
 */
export function learningRateAt(step: number, totalSteps: number, optim: Pick<OptimConfig, 'learningRate' | 'warmupSteps' | 'decay'>): number {
  if (!Number.isInteger(step) || step < 0) throw new RangeError(`learningRateAt: step must be a non-negative integer, got ${step}`);
  const { learningRate: lr, warmupSteps, decay } = optim;
  if (step < warmupSteps) return (lr * (step + 1)) / (warmupSteps + 1);
  const decaySteps = totalSteps - warmupSteps;
  if (decay === 'none' || decaySteps <= 0) return lr;
  const progress = Math.min(1, (step - warmupSteps) / decaySteps); // [0, 1), 1 at step = totalSteps
  switch (decay) {
    case 'linear':
      return lr * (1 - progress);
    case 'cosine':
      return lr * 0.5 * (1 + Math.cos(Math.PI * progress));
    default:
      throw new RangeError(`unknown learning-rate decay '${String(decay)}'`);
  }
}
