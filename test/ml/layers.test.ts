import { initBackend } from '../../ml/backend';
import { batchMatMul, causalMask, dense, denseTransposed, embeddingLookup, gelu, layerNorm } from '../../ml/layers';
import { Rng } from '../../ml/rng';
import { tf } from '../../ml/tf';
import type { Tensor } from '../../ml/tf';
import { TEST_BACKENDS, useBackend } from './fixtures/backends';

const rng = new Rng(7);
const randn = (shape: number[], std = 1): Tensor => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1), std), shape);
const maxAbsDiff = (a: Tensor, b: Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

/** Gradients of Σ f(args)·R w.r.t. every arg, R a fixed random projection (so no gradient is trivially 1). */
function gradsOf(f: (...xs: Tensor[]) => Tensor, args: Tensor[], proj: Tensor): Tensor[] {
  return tf.grads((...xs: Tensor[]) => tf.sum(tf.mul(f(...xs), proj)))(args);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe.each(TEST_BACKENDS)('custom gradients match autodiff of plain ops (%s, 1e-5)', (backend) => {
  useBackend(backend);
  it('runs on the backend named', () => {
    expect(tf.getBackend()).toBe(backend);
  });

  it('dense with bias on rank-3 input', () => {
    const x = randn([2, 5, 6]);
    const w = randn([6, 4]);
    const b = randn([4]);
    const proj = randn([2, 5, 4]);
    const ref = (xx: Tensor, ww: Tensor, bb: Tensor): Tensor =>
      tf.add(tf.reshape(tf.matMul(tf.reshape(xx, [10, 6]) as tf.Tensor2D, ww as tf.Tensor2D), [2, 5, 4]), bb);
    const mine = (xx: Tensor, ww: Tensor, bb: Tensor): Tensor => dense(xx, ww as tf.Tensor2D, bb);
    expect(maxAbsDiff(mine(x, w, b), ref(x, w, b))).toBeLessThan(1e-5);
    const g = gradsOf(mine, [x, w, b], proj);
    const gRef = gradsOf(ref, [x, w, b], proj);
    g.forEach((gi, i) => {
      expect(gi.shape).toEqual(gRef[i].shape);
      expect(maxAbsDiff(gi, gRef[i])).toBeLessThan(1e-5);
    });
  });

  it('dense without bias', () => {
    const x = randn([7, 3]);
    const w = randn([3, 5]);
    const proj = randn([7, 5]);
    const g = gradsOf((xx, ww) => dense(xx, ww as tf.Tensor2D), [x, w], proj);
    const gRef = gradsOf((xx, ww) => tf.matMul(xx as tf.Tensor2D, ww as tf.Tensor2D), [x, w], proj);
    expect(maxAbsDiff(g[0], gRef[0])).toBeLessThan(1e-5);
    expect(maxAbsDiff(g[1], gRef[1])).toBeLessThan(1e-5);
  });

  it.each([true, false])('frozen dense (bias %p, rank-3 input): value and dx against autodiff of plain ops', (withBias) => {
    const x = randn([2, 5, 6]);
    const w = randn([6, 4]);
    const b = withBias ? randn([4]) : undefined;
    const proj = randn([2, 5, 4]);
    // Autodiff sees W and b as constants here too: only x is an argument of the differentiated function.
    const ref = (xx: Tensor): Tensor => {
      const y = tf.reshape(tf.matMul(tf.reshape(xx, [10, 6]) as tf.Tensor2D, w as tf.Tensor2D), [2, 5, 4]);
      return b === undefined ? y : tf.add(y, b);
    };
    const mine = (xx: Tensor): Tensor => dense(xx, w as tf.Tensor2D, b, { frozen: true });
    expect(maxAbsDiff(mine(x), ref(x))).toBeLessThan(1e-5);
    const [dx] = gradsOf(mine, [x], proj);
    const [dxRef] = gradsOf(ref, [x], proj);
    expect(dx.shape).toEqual(dxRef.shape);
    expect(maxAbsDiff(dx, dxRef)).toBeLessThan(1e-5);
  });

  it('frozen dense on a transposed table (the tied LM head h·wteᵀ): dx against autodiff', () => {
    const h = randn([3, 4, 5]);
    const wte = randn([13, 5]); // [V, C]
    const proj = randn([3, 4, 13]);
    const mine = (hh: Tensor): Tensor => dense(hh, tf.transpose(wte) as tf.Tensor2D, undefined, { frozen: true });
    const ref = (hh: Tensor): Tensor => tf.reshape(tf.matMul(tf.reshape(hh, [12, 5]) as tf.Tensor2D, wte as tf.Tensor2D, false, true), [3, 4, 13]);
    expect(maxAbsDiff(mine(h), ref(h))).toBeLessThan(1e-5);
    expect(maxAbsDiff(gradsOf(mine, [h], proj)[0], gradsOf(ref, [h], proj)[0])).toBeLessThan(1e-5);
  });

  it.each([true, false])('denseTransposed (the tied LM head h·wteᵀ, frozen %p): value, dx and dTable against autodiff', (frozen) => {
    const h = randn([3, 4, 5]);
    const wte = randn([13, 5]); // [V, C]
    const proj = randn([3, 4, 13]);
    const ref = (hh: Tensor, tt: Tensor): Tensor => tf.reshape(tf.matMul(tf.reshape(hh, [12, 5]) as tf.Tensor2D, tt as tf.Tensor2D, false, true), [3, 4, 13]);
    expect(maxAbsDiff(denseTransposed(h, wte as tf.Tensor2D, { frozen }), ref(h, wte))).toBeLessThan(1e-5);
    const [dx] = gradsOf((hh) => denseTransposed(hh, wte as tf.Tensor2D, { frozen }), [h], proj);
    const [dxRef] = gradsOf((hh) => ref(hh, wte), [h], proj);
    expect(dx.shape).toEqual([3, 4, 5]);
    expect(maxAbsDiff(dx, dxRef)).toBeLessThan(1e-5);
    if (!frozen) {
      const g = gradsOf((hh, tt) => denseTransposed(hh, tt as tf.Tensor2D), [h, wte], proj);
      const gRef = gradsOf(ref, [h, wte], proj);
      expect(g[1].shape).toEqual([13, 5]);
      expect(maxAbsDiff(g[0], gRef[0])).toBeLessThan(1e-5);
      expect(maxAbsDiff(g[1], gRef[1])).toBeLessThan(1e-5);
    }
  });

  it('batchMatMul on rank-4 input', () => {
    const a = randn([2, 3, 4, 5]);
    const b = randn([2, 3, 5, 6]);
    const proj = randn([2, 3, 4, 6]);
    expect(maxAbsDiff(batchMatMul(a, b), tf.matMul(a, b))).toBeLessThan(1e-5);
    const g = gradsOf(batchMatMul, [a, b], proj);
    const gRef = gradsOf((x, y) => tf.matMul(x, y), [a, b], proj);
    expect(maxAbsDiff(g[0], gRef[0])).toBeLessThan(1e-5);
    expect(maxAbsDiff(g[1], gRef[1])).toBeLessThan(1e-5);
  });

  it('embeddingLookup, with repeated ids, against tf.gather', () => {
    const table = randn([11, 4]);
    const ids = tf.tensor2d([[1, 3, 3], [10, 0, 1]], [2, 3], 'int32');
    const proj = randn([2, 3, 4]);
    const out = embeddingLookup(table as tf.Tensor2D, ids);
    expect(out.shape).toEqual([2, 3, 4]);
    expect(maxAbsDiff(out, tf.gather(table, ids))).toBeLessThan(1e-6);
    const [g] = gradsOf((t) => embeddingLookup(t as tf.Tensor2D, ids), [table], proj);
    const [gRef] = gradsOf((t) => tf.gather(t, ids), [table], proj);
    expect(maxAbsDiff(g, gRef)).toBeLessThan(1e-5);
    // Rows never looked up get exactly zero gradient; row 3 (used twice) gets both contributions.
    expect(Array.from(tf.slice(g, [2, 0], [1, 4]).dataSync())).toEqual([0, 0, 0, 0]);
  });
});

describe('plain-op layers against naive formulas', () => {
  it('layerNorm normalises each row and applies gamma/beta', () => {
    const x = randn([3, 8], 3);
    const gamma = randn([8]);
    const beta = randn([8]);
    const out = layerNorm(x, gamma, beta).arraySync() as number[][];
    const xs = x.arraySync() as number[][];
    const g = gamma.arraySync() as number[];
    const bt = beta.arraySync() as number[];
    xs.forEach((row, i) => {
      const mu = row.reduce((a, b) => a + b, 0) / row.length;
      const variance = row.reduce((a, b) => a + (b - mu) ** 2, 0) / row.length;
      row.forEach((v, j) => expect(out[i][j]).toBeCloseTo(((v - mu) / Math.sqrt(variance + 1e-5)) * g[j] + bt[j], 4));
    });
    // Gradient through tf.moments-based reference agrees.
    const proj = randn([3, 8]);
    const ref = (xx: Tensor, gg: Tensor, bb: Tensor): Tensor => {
      const { mean, variance } = tf.moments(xx, -1, true);
      return tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, 1e-5))), gg), bb);
    };
    const gr = gradsOf((a, b, c) => layerNorm(a, b, c), [x, gamma, beta], proj);
    const gRef = gradsOf(ref, [x, gamma, beta], proj);
    gr.forEach((gi, i) => expect(maxAbsDiff(gi, gRef[i])).toBeLessThan(1e-5));
  });

  it('gelu is the tanh approximation', () => {
    const xs = [-3, -1, -0.5, 0, 0.5, 1, 3];
    const out = gelu(tf.tensor1d(xs)).arraySync() as number[];
    xs.forEach((x, i) => {
      const expected = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
      expect(out[i]).toBeCloseTo(expected, 5);
    });
    expect(out[6]).toBeGreaterThan(2.99); // ≈ identity for large x
  });

  it('causalMask is lower triangular with a full diagonal', () => {
    expect(causalMask(3).arraySync()).toEqual([
      [1, 0, 0],
      [1, 1, 0],
      [1, 1, 1],
    ]);
  });
});

describe('on the wasm backend', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('embedding and dense gradients run (no UnsortedSegmentSum) and equal the cpu results', async () => {
    const table = randn([9, 4]);
    const w = randn([4, 3]);
    const ids = tf.tensor2d([[0, 8, 8, 2]], [1, 4], 'int32');
    const proj = randn([1, 4, 3]);
    const f = (t: Tensor, ww: Tensor): Tensor => dense(embeddingLookup(t as tf.Tensor2D, ids), ww as tf.Tensor2D);
    const onCpu = gradsOf(f, [table, w], proj).map((g) => g.dataSync().slice());
    const info = await initBackend({ prefer: 'wasm', log: () => undefined });
    expect(info.name).toBe('wasm');
    const onWasm = tf.tidy(() => {
      const toWasm = (t: Tensor): Tensor => tf.tensor(t.dataSync(), t.shape);
      return gradsOf(f, [toWasm(table), toWasm(w)], toWasm(proj)).map((g) => g.dataSync().slice());
    });
    onWasm.forEach((g, i) => g.forEach((v, j) => expect(Math.abs(v - onCpu[i][j])).toBeLessThan(1e-5)));
    // The frozen variants run on WASM too, and their dx is exactly the full variant's.
    const dxOf = (frozen: boolean): Float32Array[] =>
      tf.tidy(() => {
        const toWasm = (t: Tensor): Tensor => tf.tensor(t.dataSync(), t.shape);
        const [tw, ww, pw] = [toWasm(table), toWasm(w), toWasm(proj)];
        const emb = embeddingLookup(tw as tf.Tensor2D, ids, { frozen });
        return valuesOf(gradsOf((e) => dense(e, ww as tf.Tensor2D, undefined, { frozen }), [emb], pw));
      });
    expect(dxOf(true)).toEqual(dxOf(false));
  });
});

/** Values of every tensor, for exact (bit-level) comparison. */
const valuesOf = (ts: Tensor[]): Float32Array[] => ts.map((t) => t.dataSync() as Float32Array);

describe.each(TEST_BACKENDS)('frozen weights: gradient for the activations only (%s)', (backend) => {
  useBackend(backend);
  it.each([true, false])('dense (bias %p): same value and exactly the same dx as the full variant; W and b get no gradient', (withBias) => {
    const x = tf.variable(randn([2, 5, 6]), true, `x-frozen-${withBias}-${backend}`);
    const w = tf.variable(randn([6, 4]), true, `w-frozen-${withBias}-${backend}`);
    const b = withBias ? tf.variable(randn([4]), true, `b-frozen-${withBias}-${backend}`) : undefined;
    const proj = randn([2, 5, 4]);
    const vars = b === undefined ? [x, w] : [x, w, b];
    const lossOf = (frozen: boolean) => (): tf.Scalar => tf.sum(tf.mul(dense(x, w as tf.Tensor2D, b, { frozen }), proj));
    expect(Array.from(dense(x, w as tf.Tensor2D, b, { frozen: true }).dataSync())).toEqual(Array.from(dense(x, w as tf.Tensor2D, b).dataSync()));
    const full = tf.variableGrads(lossOf(false), vars);
    const frozen = tf.variableGrads(lossOf(true), vars);
    expect(Object.keys(full.grads).sort()).toEqual(vars.map((v) => v.name).sort());
    // Only x is differentiated: W (and b) are not inputs of the frozen op.
    expect(Object.keys(frozen.grads)).toEqual([x.name]);
    expect(valuesOf([frozen.grads[x.name]])).toEqual(valuesOf([full.grads[x.name]]));
    expect(frozen.value.dataSync()[0]).toBe(full.value.dataSync()[0]);
    tf.dispose([...vars, proj, full.value, frozen.value, ...Object.values(full.grads), ...Object.values(frozen.grads)]);
  });

  it('denseTransposed: same value and exactly the same dx as the full variant; the table gets no gradient', () => {
    const h = tf.variable(randn([2, 3, 5]), true, `h-frozen-head-${backend}`);
    const table = tf.variable(randn([7, 5]), true, `table-frozen-head-${backend}`);
    const proj = randn([2, 3, 7]);
    const lossOf = (frozen: boolean) => (): tf.Scalar => tf.sum(tf.mul(denseTransposed(h, table as tf.Tensor2D, { frozen }), proj));
    const full = tf.variableGrads(lossOf(false), [h, table]);
    const frozen = tf.variableGrads(lossOf(true), [h, table]);
    expect(Object.keys(full.grads).sort()).toEqual([h.name, table.name].sort());
    expect(Object.keys(frozen.grads)).toEqual([h.name]);
    expect(valuesOf([frozen.grads[h.name]])).toEqual(valuesOf([full.grads[h.name]]));
    expect(frozen.value.dataSync()[0]).toBe(full.value.dataSync()[0]);
    tf.dispose([h, table, proj, full.value, frozen.value, ...Object.values(full.grads), ...Object.values(frozen.grads)]);
  });

  it('embeddingLookup: same rows; the table gets no gradient, downstream weights the same', () => {
    const table = tf.variable(randn([11, 4]), true, `table-frozen-${backend}`);
    const w = tf.variable(randn([4, 3]), true, `w-after-lookup-${backend}`);
    const ids = tf.tensor2d([[1, 3, 3], [10, 0, 1]], [2, 3], 'int32');
    const proj = randn([2, 3, 3]);
    const out = embeddingLookup(table as tf.Tensor2D, ids, { frozen: true });
    expect(out.shape).toEqual([2, 3, 4]);
    expect(Array.from(out.dataSync())).toEqual(Array.from(embeddingLookup(table as tf.Tensor2D, ids).dataSync()));
    const lossOf = (frozen: boolean) => (): tf.Scalar =>
      tf.sum(tf.mul(dense(embeddingLookup(table as tf.Tensor2D, ids, { frozen }), w as tf.Tensor2D), proj));
    const full = tf.variableGrads(lossOf(false), [table, w]);
    const frozen = tf.variableGrads(lossOf(true), [table, w]);
    expect(Object.keys(full.grads).sort()).toEqual([table.name, w.name].sort());
    expect(Object.keys(frozen.grads)).toEqual([w.name]);
    expect(valuesOf([frozen.grads[w.name]])).toEqual(valuesOf([full.grads[w.name]]));
    tf.dispose([table, w, ids, proj, full.value, frozen.value, ...Object.values(full.grads), ...Object.values(frozen.grads)]);
  });
});
