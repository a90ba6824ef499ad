/**
 * The single import point for TensorFlow.js in this project.
 *
 * Every file in ml/ imports `tf` from here, never '@tensorflow/tfjs-core' directly, so all
 * code shares one tfjs-core instance (a second copy would have its own engine, variables and
 * backends). Importing this module
 *  - registers the pure-JS CPU backend, so tensor code runs before `initBackend()` picks a
 *    faster one (WASM or native);
 *  - registers kernel gradients. tfjs-core's CommonJS bundle (the one Node loads) ships with
 *    NO gradients: the union package `@tensorflow/tfjs` normally registers them from ES-module
 *    files that Node 20 cannot require. Without them every tf.grads/variableGrads fails with
 *    "gradient function not found". The gradients below are written from the derivative of
 *    each kernel and checked against finite differences in test/ml/backend.test.ts. They are the
 *    project's gradients on every backend: the native packages import `@tensorflow/tfjs`, which
 *    replaces every registered gradient with its own set, so ml/backend.ts calls
 *    `reinstallProjectGradients()` after loading one. That keeps one set of derivatives on WASM,
 *    CPU and native (tfjs's own BatchMatMul gradient, for one, returns the broadcast batch shape for a
 *    batch-1 operand: "The gradient of input 'b' has shape '2,3,2', which does not match ... '1,3,2'").
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

export { tf };
export type Tensor = tf.Tensor;
export type Tensor1D = tf.Tensor1D;
export type Tensor2D = tf.Tensor2D;
export type Tensor3D = tf.Tensor3D;
export type Tensor4D = tf.Tensor4D;
export type Variable = tf.Variable;

type Grads = Record<string, () => tf.Tensor>;
type GradFn = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => Grads;

/** Every gradient this module registers, so they can be put back after a package replaced them. */
const projectGradients: tf.GradConfig[] = [];

function register(kernelName: string, gradFunc: GradFn, save: { inputs?: string[]; outputs?: boolean; all?: boolean } = {}): void {
  const config: tf.GradConfig = {
    kernelName,
    inputsToSave: save.inputs,
    saveAllInputs: save.all,
    outputsToSave: save.outputs ? [true] : undefined,
    gradFunc: gradFunc as tf.GradFunc,
  };
  projectGradients.push(config);
  tf.registerGradient(config);
}

/** Re-registers the project's gradients over whatever a later import (tfjs-node's `@tensorflow/tfjs`) put there. */
export function reinstallProjectGradients(): number {
  for (const config of projectGradients) tf.registerGradient(config);
  return projectGradients.length;
}

const one = (dy: tf.Tensor | tf.Tensor[]): tf.Tensor => dy as tf.Tensor;

/** Sums a broadcast gradient back to the operand's shape (NumPy broadcasting rules). */
function reduceTo(grad: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, grad.shape);
  const summed = axes.length > 0 ? tf.sum(grad, axes) : grad;
  return tf.reshape(summed, shape);
}

/** Shape of x with the reduced axes kept as size 1, for broadcasting a reduction's dy back. */
function keptShape(shape: number[], axis: number | number[] | null | undefined): { kept: number[]; axes: number[] } {
  const axes = axis === null || axis === undefined ? shape.map((_, i) => i) : tf.util.parseAxisParam(axis, shape);
  return { kept: shape.map((d, i) => (axes.includes(i) ? 1 : d)), axes };
}

const isFloat = (t: tf.Tensor): tf.Tensor => tf.cast(t, 'float32');

// ---- element-wise binary (with broadcasting) --------------------------------------------
register('Add', (dy, [a, b]) => ({ a: () => reduceTo(one(dy), a.shape), b: () => reduceTo(one(dy), b.shape) }), { inputs: ['a', 'b'] });
register('Sub', (dy, [a, b]) => ({ a: () => reduceTo(one(dy), a.shape), b: () => reduceTo(tf.neg(one(dy)), b.shape) }), { inputs: ['a', 'b'] });
register('Multiply', (dy, [a, b]) => ({
  a: () => reduceTo(tf.mul(one(dy), tf.cast(b, 'float32')), a.shape),
  b: () => reduceTo(tf.mul(one(dy), tf.cast(a, 'float32')), b.shape),
}), { inputs: ['a', 'b'] });
// d(a/b) = da/b − a·db/b²
register('RealDiv', (dy, [a, b]) => ({
  a: () => reduceTo(tf.div(one(dy), b), a.shape),
  b: () => reduceTo(tf.neg(tf.div(tf.mul(one(dy), a), tf.square(b))), b.shape),
}), { inputs: ['a', 'b'] });
register('Maximum', (dy, [a, b]) => ({
  a: () => reduceTo(tf.mul(one(dy), isFloat(tf.greaterEqual(a, b))), a.shape),
  b: () => reduceTo(tf.mul(one(dy), isFloat(tf.less(a, b))), b.shape),
}), { inputs: ['a', 'b'] });
register('Minimum', (dy, [a, b]) => ({
  a: () => reduceTo(tf.mul(one(dy), isFloat(tf.lessEqual(a, b))), a.shape),
  b: () => reduceTo(tf.mul(one(dy), isFloat(tf.greater(a, b))), b.shape),
}), { inputs: ['a', 'b'] });
// d(a−b)² = 2(a−b)(da − db)
register('SquaredDifference', (dy, [a, b]) => {
  const g = (): tf.Tensor => tf.mul(one(dy), tf.mul(tf.sub(a, b), 2));
  return { a: () => reduceTo(g(), a.shape), b: () => reduceTo(tf.neg(g()), b.shape) };
}, { inputs: ['a', 'b'] });
// d(aᵇ) = b·aᵇ⁻¹ da + aᵇ·ln(a) db (the latter only where a > 0)
register('Pow', (dy, [a, b, y]) => ({
  a: () => reduceTo(tf.mul(one(dy), tf.mul(b, tf.pow(a, tf.sub(b, 1)))), a.shape),
  b: () => {
    const logA = tf.where(tf.greater(a, 0), tf.log(a), tf.zerosLike(a));
    return reduceTo(tf.mul(one(dy), tf.mul(y, logA)), b.shape);
  },
}), { inputs: ['a', 'b'], outputs: true });
register('AddN', (dy, saved) => Object.fromEntries(saved.map((_, i) => [String(i), () => tf.clone(one(dy))])), { all: true });

// ---- element-wise unary ------------------------------------------------------------------
register('Neg', (dy) => ({ x: () => tf.neg(one(dy)) }));
register('Identity', (dy) => ({ x: () => tf.clone(one(dy)) }));
register('Cast', (dy) => ({ x: () => tf.clone(one(dy)) }));
register('Exp', (dy, [y]) => ({ x: () => tf.mul(one(dy), y) }), { outputs: true });
register('Log', (dy, [x]) => ({ x: () => tf.div(one(dy), x) }), { inputs: ['x'] });
register('Log1p', (dy, [x]) => ({ x: () => tf.div(one(dy), tf.add(x, 1)) }), { inputs: ['x'] });
register('Sqrt', (dy, [y]) => ({ x: () => tf.div(one(dy), tf.mul(y, 2)) }), { outputs: true });
// y = x^(−1/2) ⇒ dy/dx = −½ y³
register('Rsqrt', (dy, [y]) => ({ x: () => tf.mul(one(dy), tf.mul(tf.pow(y, 3), -0.5)) }), { outputs: true });
register('Square', (dy, [x]) => ({ x: () => tf.mul(one(dy), tf.mul(x, 2)) }), { inputs: ['x'] });
register('Reciprocal', (dy, [x]) => ({ x: () => tf.neg(tf.div(one(dy), tf.square(x))) }), { inputs: ['x'] });
register('Tanh', (dy, [y]) => ({ x: () => tf.mul(one(dy), tf.sub(1, tf.square(y))) }), { outputs: true });
register('Sigmoid', (dy, [y]) => ({ x: () => tf.mul(one(dy), tf.mul(y, tf.sub(1, y))) }), { outputs: true });
register('Softplus', (dy, [x]) => ({ x: () => tf.mul(one(dy), tf.sigmoid(x)) }), { inputs: ['x'] });
register('Abs', (dy, [x]) => ({ x: () => tf.mul(one(dy), tf.sign(x)) }), { inputs: ['x'] });
register('Relu', (dy, [x]) => ({ x: () => tf.mul(one(dy), isFloat(tf.greater(x, 0))) }), { inputs: ['x'] });
// erf'(x) = 2/√π · e^(−x²)
register('Erf', (dy, [x]) => ({ x: () => tf.mul(one(dy), tf.mul(tf.exp(tf.neg(tf.square(x))), 2 / Math.sqrt(Math.PI))) }), { inputs: ['x'] });
register('ClipByValue', (dy, [x], attrs) => {
  const { clipValueMin, clipValueMax } = attrs as { clipValueMin: number; clipValueMax: number };
  const inside = tf.logicalAnd(tf.greaterEqual(x, clipValueMin), tf.lessEqual(x, clipValueMax));
  return { x: () => tf.where(inside, one(dy), tf.zerosLike(one(dy))) };
}, { inputs: ['x'] });
register('Select', (dy, [condition]) => ({
  condition: () => tf.cast(tf.zerosLike(condition), 'float32'),
  t: () => tf.where(condition, one(dy), tf.zerosLike(one(dy))),
  e: () => tf.where(condition, tf.zerosLike(one(dy)), one(dy)),
}), { inputs: ['condition'] });

// Piecewise-constant or integer-valued kernels: zero gradient for every input.
const zeroGrad = (names: string[]): GradFn => (dy, saved) =>
  Object.fromEntries(names.map((n, i) => [n, () => tf.zerosLike(saved[i] ?? one(dy))]));
for (const k of ['Equal', 'NotEqual', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'LogicalAnd', 'LogicalOr', 'FloorDiv']) {
  register(k, zeroGrad(['a', 'b']), { inputs: ['a', 'b'] });
}
for (const k of ['LogicalNot', 'Floor', 'Ceil', 'Round', 'Sign', 'Step', 'IsNan', 'IsFinite', 'ArgMax', 'ArgMin', 'ZerosLike', 'OnesLike']) {
  register(k, zeroGrad(['x']), { inputs: ['x'] });
}
register('OneHot', zeroGrad(['indices']), { inputs: ['indices'] });

// ---- shape ---------------------------------------------------------------------------------
register('Reshape', (dy, [x]) => ({ x: () => tf.reshape(one(dy), x.shape) }), { inputs: ['x'] });
register('ExpandDims', (dy, [input]) => ({ input: () => tf.reshape(one(dy), input.shape) }), { inputs: ['input'] });
register('Transpose', (dy, _saved, attrs) => {
  const perm = (attrs as { perm: number[] }).perm;
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return { x: () => tf.transpose(one(dy), inverse) };
});
register('Reverse', (dy, _saved, attrs) => ({ x: () => tf.reverse(one(dy), (attrs as { dims: number | number[] }).dims) }));
register('BroadcastTo', (dy, [x]) => ({ x: () => reduceTo(one(dy), x.shape) }), { inputs: ['x'] });
register('Slice', (dy, [x], attrs) => {
  const { begin, size } = attrs as { begin: number | number[]; size: number | number[] };
  const [b, s] = tf.slice_util.parseSliceParams(x, begin, size);
  const paddings = x.shape.map((d, i) => [b[i], d - b[i] - s[i]] as [number, number]);
  return { x: () => tf.pad(one(dy), paddings) };
}, { inputs: ['x'] });
register('PadV2', (dy, [x], attrs) => {
  const paddings = (attrs as { paddings: Array<[number, number]> }).paddings;
  return { x: () => tf.slice(one(dy), paddings.map((p) => p[0]), x.shape) };
}, { inputs: ['x'] });
register('Concat', (dy, saved, attrs) => {
  const axis = tf.util.parseAxisParam((attrs as { axis: number }).axis, saved[0].shape)[0];
  const parts = tf.split(one(dy), saved.map((t) => t.shape[axis]), axis);
  return Object.fromEntries(parts.map((p, i) => [String(i), () => p]));
}, { all: true });
register('SplitV', (dy, _saved, attrs) => ({ x: () => tf.concat(dy as tf.Tensor[], (attrs as { axis: number }).axis) }));
register('Pack', (dy, saved, attrs) => {
  const parts = tf.unstack(one(dy), (attrs as { axis: number }).axis);
  return Object.fromEntries(saved.map((_, i) => [String(i), () => parts[i]]));
}, { all: true });
register('Unpack', (dy, _saved, attrs) => ({ value: () => tf.stack(dy as tf.Tensor[], (attrs as { axis: number }).axis) }));
// Tiling repeats the whole tensor; dy reshaped to [r0, s0, r1, s1, ...] is summed over the r axes.
register('Tile', (dy, [x], attrs) => {
  const reps = (attrs as { reps: number[] }).reps;
  const split = x.shape.flatMap((s, i) => [reps[i], s]);
  const repAxes = x.shape.map((_, i) => 2 * i);
  return { x: () => tf.reshape(tf.sum(tf.reshape(one(dy), split), repAxes), x.shape) };
}, { inputs: ['x'] });
// gather's gradient without UnsortedSegmentSum (absent on WASM): one-hot(indices)ᵀ · dy along the axis.
register('GatherV2', (dy, [x, indices], attrs) => {
  const { axis, batchDims } = attrs as { axis: number; batchDims: number };
  if (batchDims !== 0) throw new Error('GatherV2 gradient: batchDims > 0 is not supported');
  const ax = tf.util.parseAxisParam(axis, x.shape)[0];
  const n = x.shape[ax];
  const p = x.shape.slice(0, ax).reduce((s, d) => s * d, 1);
  const q = x.shape.slice(ax + 1).reduce((s, d) => s * d, 1);
  return {
    x: () => {
      const ni = indices.size;
      const dy3 = tf.reshape(one(dy), [p, ni, q]); // [P, NI, Q]
      const rows = tf.reshape(tf.transpose(dy3, [1, 0, 2]), [ni, p * q]); // [NI, P·Q]
      // int32 one-hot then cast: WASM's OneHot ignores its dtype argument.
      const oneHotT = tf.transpose(tf.cast(tf.oneHot(tf.reshape(tf.cast(indices, 'int32'), [ni]), n), 'float32')); // [N, NI]
      const dx = tf.reshape(tf.matMul(oneHotT, rows), [n, p, q]); // [N, P, Q]
      const xT = tf.reshape(tf.transpose(dx, [1, 0, 2]), x.shape);
      return xT;
    },
    indices: () => tf.zerosLike(indices),
  };
}, { inputs: ['x', 'indices'] });

// ---- reductions and scans -----------------------------------------------------------------
register('Sum', (dy, [x], attrs) => {
  const { kept } = keptShape(x.shape, (attrs as { axis: number | number[] }).axis);
  return { x: () => tf.mul(tf.reshape(one(dy), kept), tf.onesLike(x)) };
}, { inputs: ['x'] });
register('Mean', (dy, [x], attrs) => {
  const { kept, axes } = keptShape(x.shape, (attrs as { axis: number | number[] }).axis);
  const count = axes.reduce((s, a) => s * x.shape[a], 1);
  return { x: () => tf.div(tf.mul(tf.reshape(one(dy), kept), tf.onesLike(x)), count) };
}, { inputs: ['x'] });
// Max/Min: the gradient goes to every position equal to the extremum (as TensorFlow does).
const extremumGrad =
  (axisAttr: 'reductionIndices' | 'axis'): GradFn =>
  (dy, [x, y], attrs) => {
    const { kept } = keptShape(x.shape, (attrs as Record<string, number | number[]>)[axisAttr]);
    return { x: () => tf.mul(tf.reshape(one(dy), kept), isFloat(tf.equal(x, tf.reshape(y, kept)))) };
  };
register('Max', extremumGrad('reductionIndices'), { inputs: ['x'], outputs: true });
register('Min', extremumGrad('axis'), { inputs: ['x'], outputs: true });
// Cumulative sum: each input contributes to every later (earlier, if reversed) output.
register('Cumsum', (dy, _saved, attrs) => {
  const { axis, exclusive, reverse } = attrs as { axis: number; exclusive: boolean; reverse: boolean };
  return { x: () => tf.cumsum(one(dy), axis, exclusive, !reverse) };
});
// Softmax Jacobian-vector product: dx = y ⊙ (dy − Σ dy ⊙ y).
register('Softmax', (dy, [y], attrs) => {
  const dim = (attrs as { dim: number }).dim;
  return { logits: () => tf.mul(y, tf.sub(one(dy), tf.sum(tf.mul(one(dy), y), dim, true))) };
}, { outputs: true });

// ---- matrix product --------------------------------------------------------------------
// Written with explicit transposes and untransposed matMuls: transposed matMuls run at 1-2
// GFLOP/s on WASM against ~30 for plain ones (measured, tfjs 4.22).
register('BatchMatMul', (dy, [a, b], attrs) => {
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  const g = one(dy);
  // The transpose flags instead of explicit transposes: the backends fold them into the GEMM call.
  let da: () => tf.Tensor;
  let db: () => tf.Tensor;
  if (!transposeA && !transposeB) {
    da = () => tf.matMul(g, b, false, true); // y = a·b: da = g·bᵀ, db = aᵀ·g
    db = () => tf.matMul(a, g, true, false);
  } else if (!transposeA && transposeB) {
    da = () => tf.matMul(g, b); // y = a·bᵀ: da = g·b, db = gᵀ·a
    db = () => tf.matMul(g, a, true, false);
  } else if (transposeA && !transposeB) {
    da = () => tf.matMul(b, g, false, true); // y = aᵀ·b: da = b·gᵀ, db = a·g
    db = () => tf.matMul(a, g);
  } else {
    da = () => tf.matMul(b, g, true, true); // y = aᵀ·bᵀ: da = bᵀ·gᵀ, db = gᵀ·aᵀ
    db = () => tf.matMul(g, a, true, true);
  }
  // A batch-1 operand broadcast against a batch-B one gets its gradient summed over the batch.
  return { a: () => reduceTo(da(), a.shape), b: () => reduceTo(db(), b.shape) };
}, { inputs: ['a', 'b'] });
