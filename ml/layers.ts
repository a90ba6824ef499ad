/**
 * Functional building blocks for the transformer, written as plain tfjs-core ops (no
 * tfjs-layers). Three of them carry hand-written gradients because of WASM-backend facts
 * measured on tfjs 4.22:
 *  - the transposed matMuls that autodiff emits for a matMul's backward pass run at 1-2
 *    GFLOP/s on WASM against ~30 for a plain one, so `dense` and `batchMatMul` transpose
 *    explicitly (tf.transpose, then an untransposed matMul) in their gradients;
 *  - WASM has no UnsortedSegmentSum kernel, so the autodiff gradient of `gather` throws;
 *    `embeddingLookup` computes its table gradient as one-hot(ids)ᵀ · dy instead;
 *  - the gradient of `bandPart` throws on 2-D input, so the causal mask is a constant.
 * Each custom gradient is checked against autodiff of plain ops in test/ml/layers.test.ts.
 *
 * Native TensorFlow (tfjs-node, tfjs-node-gpu; both register as 'tensorflow') has the opposite
 * cost profile, measured with tfjs-node 4.22 on TensorFlow 2.21 (2 intra-op threads; CPU ms, on
 * the shared 2-core machine, so read the ratios): an explicit transpose of a large weight costs
 * about as much as the matmul it feeds (wte [50257, 768]: 444 ms against 270 ms for h·wteᵀ with a
 * cached transpose), and a transposed big operand is slow too (h·wteᵀ through matMul's
 * transposeB: 736 ms at N = 128, 548 ms at N = 4). Keeping the big operand untransposed on the
 * left and transposing the small result is the fast form: (wte·hᵀ)ᵀ 204 ms at N = 128 and 41 ms
 * at N = 4; for a layer's dx, (W·dyᵀ)ᵀ 7.3 ms against 16 (transposeB) and 21 (explicit) for
 * W [768, 3072], N = 64. `nativeGemmForms()` picks those forms; WASM and CPU keep theirs, op
 * for op (their results are unchanged).
 *
 * Frozen weights: tf.customGrad computes the gradient of EVERY input eagerly (tfjs-core
 * engine.customGrad wraps each result in a thunk only after computing it), so a frozen W
 * that is an input of the op still costs dW = xᵀ·dy per call. `dense` and `embeddingLookup`
 * therefore take `{ frozen: true }`: W (and b) are then not inputs of the recorded op, only
 * x is, and backprop forms dx alone (PyTorch skips the same work for requires_grad=False).
 */
import { tf } from './tf';
import type { Tensor, Tensor2D } from './tf';

/** true on the native TensorFlow backends, whose fast matMul forms differ (see the header). */
export function nativeGemmForms(): boolean {
  return tf.getBackend() === 'tensorflow';
}

/**
 * dy·Wᵀ for a weight W [In, Out] and dy [N, Out] → [N, In] (a layer's input gradient). Native:
 * (W·dyᵀ)ᵀ, the big W untransposed on the left; elsewhere an explicit transpose of W.
 */
function timesWeightT(dy: Tensor2D, w: Tensor2D): Tensor2D {
  if (nativeGemmForms()) return tf.transpose(tf.matMul(w, dy, false, true)) as Tensor2D; // [In, N] → [N, In]
  return tf.matMul(dy, tf.transpose(w));
}

/** xᵀ·dy for x [N, In] and dy [N, Out] → [In, Out] (a layer's weight gradient). */
function weightGrad(x: Tensor2D, dy: Tensor2D): Tensor2D {
  if (nativeGemmForms()) return tf.matMul(x, dy, true, false);
  return tf.matMul(tf.transpose(x), dy);
}

/** Transposes the last two axes of a rank ≥ 2 tensor. */
function swapLastTwo(t: Tensor): Tensor {
  const perm = t.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(t, perm);
}

/** y = x·W (+ b) on 2-D input, with a gradient that uses explicit transposes. */
const matMul2dWithBias = tf.customGrad((x, w, b, save) => {
  const x2 = x as Tensor2D; // [N, In]
  const w2 = w as Tensor2D; // [In, Out]
  (save as tf.GradSaveFunc)([x2, w2]);
  return {
    value: tf.add(tf.matMul(x2, w2), b as Tensor), // [N, Out]
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [xs, ws] = saved as [Tensor2D, Tensor2D];
      const dy2 = dy as Tensor2D; // [N, Out]
      return [
        timesWeightT(dy2, ws), // dx [N, In]
        weightGrad(xs, dy2), // dW [In, Out]
        tf.sum(dy2, 0), // db [Out]
      ];
    },
  };
});

const matMul2dNoBias = tf.customGrad((x, w, save) => {
  const x2 = x as Tensor2D; // [N, In]
  const w2 = w as Tensor2D; // [In, Out]
  (save as tf.GradSaveFunc)([x2, w2]);
  return {
    value: tf.matMul(x2, w2), // [N, Out]
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [xs, ws] = saved as [Tensor2D, Tensor2D];
      const dy2 = dy as Tensor2D;
      return [timesWeightT(dy2, ws), weightGrad(xs, dy2)];
    },
  };
});

/**
 * y = x·W (+ b) on 2-D input for a frozen W (and b): only x is an input of the recorded op, so
 * its gradient is dx = dy·Wᵀ alone, computed by the same ops as matMul2dWithBias's dx (so
 * bit-identical). W is saved for the backward pass; b is needed only forward.
 */
function frozenMatMul2d(x: Tensor2D, w: Tensor2D, b: Tensor | undefined): Tensor2D {
  const op = tf.customGrad((xIn, save) => {
    (save as tf.GradSaveFunc)([w]);
    const y = tf.matMul(xIn as Tensor2D, w); // [N, Out]
    return {
      value: b === undefined ? y : tf.add(y, b), // [N, Out]
      gradFunc: (dy: Tensor, saved: Tensor[]) => timesWeightT(dy as Tensor2D, saved[0] as Tensor2D), // dx [N, In]
    };
  });
  return op(x) as Tensor2D;
}

export interface FrozenOption {
  /**
   * true: the weights get no gradient (they are not inputs of the recorded op), only the
   * activations do. Use it when the weights are not among the variables being
   * differentiated; asking for their gradient then yields none. Default false.
   */
  frozen?: boolean;
}

/**
 * Affine layer y = x·W + b over the last axis.
 * x [..., In], W [In, Out], b [Out] → [..., Out].
 */
export function dense<T extends Tensor>(x: T, w: Tensor2D, b?: Tensor, opts: FrozenOption = {}): T {
  const [inDim, outDim] = w.shape;
  const lead = x.shape.slice(0, -1);
  const x2 = tf.reshape(x, [-1, inDim]) as Tensor2D; // [N, In]
  let y2: Tensor; // [N, Out]
  if (opts.frozen) y2 = frozenMatMul2d(x2, w, b);
  else y2 = b === undefined ? matMul2dNoBias(x2, w) : matMul2dWithBias(x2, w, b);
  return tf.reshape(y2, [...lead, outDim]) as T;
}

/**
 * Batched a·b over the last two axes (same batch shape, no broadcasting), with explicit
 * transposes in the gradient: dA = dY·Bᵀ, dB = Aᵀ·dY.
 * a [..., M, K], b [..., K, N] → [..., M, N].
 */
export const batchMatMul = tf.customGrad((a, b, save) => {
  (save as tf.GradSaveFunc)([a as Tensor, b as Tensor]);
  return {
    value: tf.matMul(a as Tensor, b as Tensor),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [as, bs] = saved;
      // Attention's operands are small ([B, H, T, D]): native folds the transposes into the GEMM.
      if (nativeGemmForms()) return [tf.matMul(dy, bs, false, true), tf.matMul(as, dy, true, false)];
      return [tf.matMul(dy, swapLastTwo(bs)), tf.matMul(swapLastTwo(as), dy)];
    },
  };
}) as (a: Tensor, b: Tensor) => Tensor;

/**
 * x·tableᵀ over the last axis for a table [Out, In] stored row per output, e.g. the tied LM head
 * (logits = h·wteᵀ, wte [V, C]). x [..., In] → [..., Out]. WASM and CPU: `dense` with
 * W = tableᵀ, as before. Native: (table·xᵀ)ᵀ forward, dx = dy·table and dTable = dyᵀ·x, so the
 * [V, C] table is never transposed (for GPT-2 small a 154 MB copy per pass and per decode step).
 */
export function denseTransposed<T extends Tensor>(x: T, table: Tensor2D, opts: FrozenOption = {}): T {
  if (!nativeGemmForms()) return dense(x, tf.transpose(table) as Tensor2D, undefined, opts);
  const [outDim, inDim] = table.shape;
  const lead = x.shape.slice(0, -1);
  const x2 = tf.reshape(x, [-1, inDim]) as Tensor2D; // [N, In]
  const forward = (xIn: Tensor2D): Tensor2D => tf.transpose(tf.matMul(table, xIn, false, true)) as Tensor2D; // [Out, N] → [N, Out]
  let y2: Tensor;
  if (opts.frozen) {
    const op = tf.customGrad((xIn, save) => {
      (save as tf.GradSaveFunc)([table]);
      return {
        value: forward(xIn as Tensor2D), // [N, Out]
        gradFunc: (dy: Tensor, saved: Tensor[]) => tf.matMul(dy as Tensor2D, saved[0] as Tensor2D), // dx [N, In]
      };
    });
    y2 = op(x2);
  } else {
    const op = tf.customGrad((xIn, t, save) => {
      (save as tf.GradSaveFunc)([xIn as Tensor2D, t as Tensor2D]);
      return {
        value: forward(xIn as Tensor2D), // [N, Out]
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [xs, ts] = saved as [Tensor2D, Tensor2D];
          const dy2 = dy as Tensor2D; // [N, Out]
          return [tf.matMul(dy2, ts), tf.matMul(dy2, xs, true, false)]; // dx [N, In], dTable [Out, In]
        },
      };
    });
    y2 = op(x2, table);
  }
  return tf.reshape(y2, [...lead, outDim]) as T;
}

/**
 * Row lookup table[ids]. table [V, C], ids int32 of any shape S → [...S, C].
 * Gradient for the table: one-hot(ids)ᵀ [V, N] · dy [N, C], which works on every backend
 * (WASM lacks the UnsortedSegmentSum kernel that gather's own gradient needs). The ids get
 * no gradient (they are integers). With `frozen`, the table is not an input of the recorded op
 * (only the ids are), so no table gradient is formed and nothing is saved for one.
 */
export function embeddingLookup(table: Tensor2D, ids: Tensor, opts: FrozenOption = {}): Tensor {
  const [vocab, width] = table.shape;
  const flatIds = tf.cast(tf.reshape(ids, [-1]), 'int32'); // [N]
  if (opts.frozen) {
    const frozenLookup = tf.customGrad((idsIn) => ({
      value: tf.gather(table, idsIn as tf.Tensor1D), // [N, C]
      // Integer ids carry no gradient; zeros of their shape satisfy customGrad's contract.
      gradFunc: () => tf.zeros((idsIn as Tensor).shape),
    }));
    return tf.reshape(frozenLookup(flatIds), [...ids.shape, width]); // [...S, C]
  }
  const lookup = tf.customGrad((t, save) => {
    (save as tf.GradSaveFunc)([flatIds]);
    return {
      value: tf.gather(t as Tensor2D, flatIds), // [N, C]
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        // int32 one-hot then cast: WASM's OneHot ignores the dtype argument and writes int bits.
        const oneHotT = tf.transpose(tf.cast(tf.oneHot(saved[0] as tf.Tensor1D, vocab), 'float32')); // [V, N]
        return [tf.matMul(oneHotT, dy as Tensor2D)]; // [V, C]
      },
    };
  });
  return tf.reshape(lookup(table), [...ids.shape, width]);
}

/**
 * Layer normalisation over the last axis (Ba et al. 2016), as GPT-2: biased variance, eps inside sqrt.
 * x [..., C], gamma [C], beta [C] → [..., C].
 */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  const axis = x.rank - 1;
  const mean = tf.mean(x, axis, true); // [..., 1]
  const centered = tf.sub(x, mean); // [..., C]
  const variance = tf.mean(tf.square(centered), axis, true); // [..., 1]
  const normed = tf.mul(centered, tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, gamma), beta);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation (Hendrycks & Gimpel 2016; GPT-2's gelu_new): 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))). */
export function gelu(x: Tensor): Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), SQRT_2_OVER_PI);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/**
 * Constant lower-triangular mask [T, T]: 1 where key j ≤ query i (may attend), 0 above the
 * diagonal. Built from a typed array, not bandPart (whose gradient throws on 2-D input).
 */
export function causalMask(t: number): Tensor2D {
  const data = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = 0; j <= i; j++) data[i * t + j] = 1;
  return tf.tensor2d(data, [t, t]);
}
