/**
 * PPO maths as pure tensor functions, with TRL 0.7's semantics (`trl/core.py` and
 * `PPOTrainer.compute_rewards / compute_advantages / loss`).
 *
 * Conventions: every tensor is float32 unless it says int32; B = batch rows, T = tokens,
 * V = vocabulary. `mask` is 1 on response tokens (the tokens the policy chose) and 0 on
 * prompt and padding positions. Functions do not dispose their inputs; they return new
 * tensors (intermediates are freed with tf.tidy), and the caller disposes the results.
 * The loss functions are differentiable in `logp` / `values` and use only ops whose
 * gradients exist on both the CPU and WASM backends (no gather gradient).
 */
import { tf } from './tf';

/** Per-token KL estimator: k1 (unbiased, can be negative) or k3 (non-negative, lower variance). */
export type KlEstimator = 'k1' | 'k3';

/**
 * Mean of `x` over the positions where `mask` is 1 (TRL core.masked_mean). Without `axis`
 * the result is a scalar; with `axis` that axis is reduced. Dividing by a zero mask sum
 * gives NaN, as TRL's does; callers guarantee at least one response token.
 */
export function maskedMean(x: tf.Tensor, mask: tf.Tensor, axis?: number): tf.Tensor {
  return tf.tidy(() => tf.div(tf.sum(tf.mul(x, mask), axis), tf.sum(mask, axis)));
}

/**
 * Variance of `x` over the masked positions (TRL core.masked_var). With `unbiased` the
 * biased estimate is multiplied by the Bessel correction n / (n − 1), n = mask sum; TRL
 * raises for n ≤ 1, here n = 1 yields NaN (the caller reports it rather than crashing).
 */
export function maskedVar(x: tf.Tensor, mask: tf.Tensor, unbiased = true): tf.Scalar {
  return tf.tidy(() => {
    const mean = maskedMean(x, mask); // []
    const centered = tf.sub(x, mean);
    const variance = maskedMean(tf.square(centered), mask) as tf.Scalar; // []
    if (!unbiased) return variance;
    const n = tf.sum(mask);
    return tf.mul(variance, tf.div(n, tf.sub(n, 1)));
  });
}

/**
 * Whitening over the masked positions (TRL core.masked_whiten): (x − mean) / sqrt(var + 1e-8)
 * with the unbiased variance; with `shiftMean` false the mean is added back, so only the
 * scale changes (TRL uses that for rewards). Masked-out positions are transformed too;
 * their values are meaningless and every consumer masks them.
 */
export function maskedWhiten(x: tf.Tensor, mask: tf.Tensor, shiftMean = true): tf.Tensor {
  return tf.tidy(() => {
    const mean = maskedMean(x, mask);
    const variance = maskedVar(x, mask, true);
    const whitened = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-8)));
    return shiftMean ? whitened : tf.add(whitened, mean);
  });
}

/** k1 = log π(a) − log π_ref(a) per token, [B, T] (Schulman, "Approximating KL divergence", 2020). */
export function klK1(logp: tf.Tensor, refLogp: tf.Tensor): tf.Tensor {
  return tf.sub(logp, refLogp);
}

/**
 * k3 = (r − 1) − log r with r = π_ref(a) / π(a) = exp(refLogp − logp), per token [B, T]
 * (Schulman 2020): unbiased for KL(π‖π_ref) under samples from π, and never negative.
 */
export function klK3(logp: tf.Tensor, refLogp: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const logRatio = tf.sub(refLogp, logp); // log r, [B, T]
    return tf.sub(tf.sub(tf.exp(logRatio), 1), logRatio);
  });
}

/** The chosen per-token KL estimator, [B, T]. */
export function klPerToken(logp: tf.Tensor, refLogp: tf.Tensor, estimator: KlEstimator): tf.Tensor {
  switch (estimator) {
    case 'k1':
      return klK1(logp, refLogp);
    case 'k3':
      return klK3(logp, refLogp);
    default:
      throw new RangeError(`unknown KL estimator '${String(estimator)}'; use 'k1' or 'k3'`);
  }
}

/**
 * float32 one-hot of int32 indices, [..., depth]. Built as int32 and cast: the WASM OneHot
 * kernel ignores the dtype argument and writes int32 bit patterns into a float32 buffer
 * (1 reads as 1.4e-45), measured with tfjs-backend-wasm 4.22.
 */
export function oneHotFloat(indices: tf.Tensor, depth: number): tf.Tensor {
  return tf.tidy(() => tf.cast(tf.oneHot(indices, depth), 'float32'));
}

/**
 * One-hot of each row's LAST masked position, [B, T]; an all-zero mask row stays all zero.
 * Position t gets weight t + 1 so argMax picks the largest masked index.
 */
export function lastMaskedPosition(mask: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [, T] = mask.shape;
    if (T === 1) return tf.clone(mask); // oneHot needs depth ≥ 2; the only position is the last
    const positions = tf.range(1, T + 1, 1, 'float32'); // [T]
    const lastIndex = tf.argMax(tf.mul(mask, positions), 1); // [B] int32
    return tf.mul(oneHotFloat(lastIndex, T), mask) as tf.Tensor2D; // [B, T]
  });
}

export interface KlPenalisedRewards {
  /** Per-token reward: −β·kl, plus the score on each row's last response token. [B, T] */
  rewards: tf.Tensor2D;
  /** The KL part alone, −β·kl. [B, T] */
  nonScoreReward: tf.Tensor2D;
  /** Per-token KL estimate. [B, T] */
  kl: tf.Tensor2D;
}

/**
 * KL-penalised per-token rewards (TRL 0.7 `compute_rewards`; Ziegler et al. 2019): every
 * response token is charged −β·kl, and the sequence-level score is added on the last
 * response token of its row. All three outputs are zero where `mask` is 0.
 */
export function klPenalisedRewards(
  score: tf.Tensor1D, // [B]
  logp: tf.Tensor2D, // [B, T]
  refLogp: tf.Tensor2D, // [B, T]
  mask: tf.Tensor2D, // [B, T]
  klCoef: number,
  estimator: KlEstimator,
): KlPenalisedRewards {
  return tf.tidy(() => {
    const kl = tf.mul(klPerToken(logp, refLogp, estimator), mask) as tf.Tensor2D; // [B, T]
    const nonScoreReward = tf.mul(kl, -klCoef) as tf.Tensor2D; // [B, T]
    const atLast = lastMaskedPosition(mask); // [B, T]
    const rewards = tf.add(nonScoreReward, tf.mul(atLast, tf.expandDims(score, 1))) as tf.Tensor2D; // [B, T]
    return { rewards, nonScoreReward, kl };
  });
}

/**
 * Mean over rows of each row's summed KL (TRL 0.7's `objective/kl`, which also feeds the
 * adaptive KL controller). kl [B, T] already masked or masked here. Returns a scalar.
 */
export function meanSequenceKl(kl: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sum(tf.mul(kl, mask), 1)));
}

export interface GaeResult {
  /** Â_t, zero where mask is 0. [B, T] */
  advantages: tf.Tensor2D;
  /** Â_t + V_t, the value-function targets, zero where mask is 0. [B, T] */
  returns: tf.Tensor2D;
}

/**
 * Generalised advantage estimation (Schulman et al. 2015, "High-dimensional continuous
 * control using GAE"), as TRL 0.7 `compute_advantages` before whitening:
 *   δ_t = r_t + γ·V_{t+1} − V_t,   Â_t = Σ_{k≥0} (γλ)^k δ_{t+k},   R_t = Â_t + V_t,
 * with rewards and values masked first, so the bootstrap value after the last response
 * token is 0. The backward recursion Â_t = δ_t + γλ·Â_{t+1} is evaluated as one matmul
 * with the upper-triangular discount matrix D[s, t] = (γλ)^(s−t) for s ≥ t, so it costs
 * one kernel instead of T small ones. Advantages are not whitened here (see maskedWhiten).
 */
export function gae(
  rewards: tf.Tensor2D, // [B, T]
  values: tf.Tensor2D, // [B, T]
  mask: tf.Tensor2D, // [B, T]
  gamma: number,
  lam: number,
): GaeResult {
  return tf.tidy(() => {
    const [B, T] = rewards.shape;
    const r = tf.mul(rewards, mask); // [B, T]
    const v = tf.mul(values, mask); // [B, T]
    const nextValues = tf.concat([tf.slice(v, [0, 1], [B, T - 1]), tf.zeros([B, 1])], 1); // [B, T], V_{T} = 0
    const deltas = tf.sub(tf.add(r, tf.mul(nextValues, gamma)), v); // [B, T]
    const discount = tf.tensor2d(discountMatrix(T, gamma * lam), [T, T]); // [T(s), T(t)]
    const advantages = tf.mul(tf.matMul(deltas, discount), mask) as tf.Tensor2D; // [B, T]
    const returns = tf.mul(tf.add(advantages, v), mask) as tf.Tensor2D; // [B, T]
    return { advantages, returns };
  });
}

/** D[s, t] = decay^(s − t) for s ≥ t, else 0 (row-major [T, T]); 0^0 = 1 keeps δ_t itself when decay is 0. */
function discountMatrix(T: number, decay: number): Float32Array {
  const d = new Float32Array(T * T);
  for (let s = 0; s < T; s++) {
    for (let t = 0; t <= s; t++) d[s * T + t] = Math.pow(decay, s - t);
  }
  return d;
}

export interface PolicyLossResult {
  /** Clipped surrogate loss, masked mean. Scalar; differentiable in logp. */
  loss: tf.Scalar;
  /** Fraction of response tokens where the clipped branch was taken. */
  clipFrac: tf.Scalar;
  /** 0.5 · masked mean of (logp − oldLogp)², TRL 0.7's `policy/approxkl`. */
  approxKl: tf.Scalar;
  /** Masked mean of the probability ratio π/π_old. */
  ratioMean: tf.Scalar;
  /** Masked (population) variance of the ratio; defined for a single token too. */
  ratioVar: tf.Scalar;
}

/**
 * PPO clipped surrogate (Schulman et al. 2017, eq. 7; TRL 0.7 `PPOTrainer.loss`):
 *   ratio = exp(logp − oldLogp),  L = mean_mask max(−A·ratio, −A·clip(ratio, 1 − ε, 1 + ε)).
 * `oldLogp` and `advantages` are treated as constants.
 */
export function clippedPolicyLoss(
  logp: tf.Tensor2D, // [B, T]
  oldLogp: tf.Tensor2D, // [B, T]
  advantages: tf.Tensor2D, // [B, T]
  mask: tf.Tensor2D, // [B, T]
  cliprange: number,
): PolicyLossResult {
  return tf.tidy(() => {
    const logRatio = tf.sub(logp, oldLogp); // [B, T]
    const ratio = tf.exp(logRatio); // [B, T]
    const negAdv = tf.neg(advantages); // [B, T]
    const unclipped = tf.mul(negAdv, ratio); // [B, T]
    const clipped = tf.mul(negAdv, tf.clipByValue(ratio, 1 - cliprange, 1 + cliprange)); // [B, T]
    const loss = maskedMean(tf.maximum(unclipped, clipped), mask) as tf.Scalar;
    const clipFrac = maskedMean(tf.cast(tf.greater(clipped, unclipped), 'float32'), mask) as tf.Scalar;
    const approxKl = tf.mul(maskedMean(tf.square(logRatio), mask), 0.5) as tf.Scalar;
    const ratioMean = maskedMean(ratio, mask) as tf.Scalar;
    const ratioVar = maskedVar(ratio, mask, false);
    return { loss, clipFrac, approxKl, ratioMean, ratioVar };
  });
}

export interface ValueLossResult {
  /** 0.5 · masked mean of the clipped squared error. Scalar; differentiable in values. */
  loss: tf.Scalar;
  /** Fraction of response tokens where the clipped prediction gave the larger error. */
  clipFrac: tf.Scalar;
}

/**
 * Clipped value loss (TRL 0.7 `PPOTrainer.loss`, from OpenAI baselines' PPO2):
 *   v_clip = clip(v, v_old − ε, v_old + ε),  L = 0.5 · mean_mask max((v − R)², (v_clip − R)²).
 * `oldValues` and `returns` are treated as constants.
 */
export function clippedValueLoss(
  values: tf.Tensor2D, // [B, T]
  oldValues: tf.Tensor2D, // [B, T]
  returns: tf.Tensor2D, // [B, T]
  mask: tf.Tensor2D, // [B, T]
  cliprangeValue: number,
): ValueLossResult {
  return tf.tidy(() => {
    // Element-wise bounds, so min/max instead of clipByValue (which takes scalar bounds).
    const valuesClipped = tf.minimum(tf.maximum(values, tf.sub(oldValues, cliprangeValue)), tf.add(oldValues, cliprangeValue));
    const errUnclipped = tf.square(tf.sub(values, returns)); // [B, T]
    const errClipped = tf.square(tf.sub(valuesClipped, returns)); // [B, T]
    const loss = tf.mul(maskedMean(tf.maximum(errUnclipped, errClipped), mask), 0.5) as tf.Scalar;
    const clipFrac = maskedMean(tf.cast(tf.greater(errClipped, errUnclipped), 'float32'), mask) as tf.Scalar;
    return { loss, clipFrac };
  });
}

/**
 * Entropy of the categorical distribution at every position, [B, T] (TRL core.entropy_from_logits):
 * H = logsumexp(z) − Σ softmax(z)·z.
 */
export function entropyFromLogits(logits: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => {
    const probs = tf.softmax(logits, -1); // [B, T, V]
    return tf.sub(tf.logSumExp(logits, -1), tf.sum(tf.mul(probs, logits), -1)) as tf.Tensor2D; // [B, T]
  });
}

/**
 * log π(label) at every position, [B, T] (TRL core.logprobs_from_logits). The label is
 * picked with a one-hot product instead of gather: tf.gather with batchDims gives wrong
 * results on WASM, and gather's gradient is not available on every backend.
 */
export function logprobsFromLogits(logits: tf.Tensor3D, labels: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const V = logits.shape[2];
    const logProbs = tf.logSoftmax(logits, -1); // [B, T, V]
    const picked = oneHotFloat(tf.cast(labels, 'int32'), V); // [B, T, V]
    return tf.sum(tf.mul(logProbs, picked), -1) as tf.Tensor2D; // [B, T]
  });
}
