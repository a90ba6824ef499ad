import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '../../ml/rng';
import type { OptimConfig } from '../../spec/run-config';
import { AdamW, clipByGlobalNorm, guardedStep, learningRateAt } from '../../ml/optimizer';

const cfg: OptimConfig = {
  learningRate: 1e-2,
  warmupSteps: 0,
  decay: 'none',
  maxGradNorm: 0,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
};

const SHAPES = [[3], [2, 2]];
const DECAY = [true, false];

/** Plain-JS AdamW in float64 (PyTorch AdamW's update order), one variable at a time. */
class AdamWReference {
  private m: number[][];
  private v: number[][];
  private t = 0;
  constructor(
    public params: number[][],
    private readonly c: OptimConfig,
    private readonly decay: boolean[],
  ) {
    this.m = params.map((p) => p.map(() => 0));
    this.v = params.map((p) => p.map(() => 0));
  }
  step(grads: number[][], lr: number): void {
    this.t += 1;
    const bc1 = 1 - this.c.beta1 ** this.t;
    const bc2 = 1 - this.c.beta2 ** this.t;
    this.params = this.params.map((p, i) =>
      p.map((x, j) => {
        const g = grads[i][j];
        this.m[i][j] = this.c.beta1 * this.m[i][j] + (1 - this.c.beta1) * g;
        this.v[i][j] = this.c.beta2 * this.v[i][j] + (1 - this.c.beta2) * g * g;
        const decayed = this.decay[i] ? x * (1 - lr * this.c.weightDecay) : x;
        const mHat = this.m[i][j] / bc1;
        const vHat = this.v[i][j] / bc2;
        return decayed - (lr * mHat) / (Math.sqrt(vHat) + this.c.eps);
      }),
    );
  }
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const draw = (rng: Rng): number[][] => SHAPES.map((s) => Array.from({ length: sizeOf(s) }, () => rng.normal()));
const makeVars = (values: number[][]) => values.map((v, i) => tf.variable(tf.tensor(v, SHAPES[i], 'float32')));
const read = (vars: tf.Variable[]) => vars.map((v) => Array.from(v.dataSync()));

function stepWith(opt: AdamW, grads: number[][], lr: number): void {
  const g = grads.map((x, i) => tf.tensor(x, SHAPES[i], 'float32'));
  opt.step(g, lr);
  tf.dispose(g);
}

describe('AdamW', () => {
  afterEach(() => tf.disposeVariables());

  it('matches a plain-JS AdamW reference over several steps to 1e-6', () => {
    const rng = new Rng(3);
    const init = draw(rng);
    const vars = makeVars(init);
    const opt = new AdamW(vars, cfg, { decay: DECAY });
    const ref = new AdamWReference(init.map((p) => p.map((x) => Math.fround(x))), cfg, DECAY);
    for (let s = 0; s < 8; s++) {
      const grads = draw(rng).map((g) => g.map((x) => Math.fround(x * (s + 1))));
      const lr = learningRateAt(s, 8, { ...cfg, warmupSteps: 2, decay: 'cosine' });
      stepWith(opt, grads, lr);
      ref.step(grads, lr);
      read(vars).forEach((p, i) => p.forEach((x, j) => expect(Math.abs(x - ref.params[i][j])).toBeLessThan(1e-6)));
    }
    expect(opt.stepsTaken).toBe(8);
    opt.dispose();
  });

  it('gives bit-identical parameters after a save/restore mid-way', () => {
    const rng = new Rng(5);
    const init = draw(rng);
    const grads = Array.from({ length: 6 }, () => draw(rng));

    const straightVars = makeVars(init);
    const straight = new AdamW(straightVars, cfg, { decay: DECAY });
    grads.forEach((g) => stepWith(straight, g, 1e-2));

    const firstVars = makeVars(init);
    const first = new AdamW(firstVars, cfg, { decay: DECAY });
    grads.slice(0, 3).forEach((g) => stepWith(first, g, 1e-2));
    const saved = first.getState();
    const savedParams = read(firstVars);
    // Simulate a fresh process: new variables and optimizer, state through JSON-like copies.
    const resumedVars = makeVars(savedParams);
    const resumed = new AdamW(resumedVars, cfg, { decay: DECAY });
    resumed.setState({ ...saved, m: saved.m.map((a) => Float32Array.from(a)), v: saved.v.map((a) => Float32Array.from(a)) });
    expect(resumed.stepsTaken).toBe(3);
    grads.slice(3).forEach((g) => stepWith(resumed, g, 1e-2));

    expect(read(resumedVars)).toEqual(read(straightVars));
    expect(resumed.getState()).toEqual(straight.getState());
    [straight, first, resumed].forEach((o) => o.dispose());
  });

  it('leaks no tensors per step and frees its moments on dispose', () => {
    const rng = new Rng(9);
    const vars = makeVars(draw(rng));
    const before = tf.memory().numTensors;
    const opt = new AdamW(vars, cfg);
    const afterCreate = tf.memory().numTensors;
    expect(afterCreate).toBe(before + 2 * vars.length);
    for (let s = 0; s < 3; s++) stepWith(opt, draw(rng), 1e-3);
    opt.getState();
    expect(tf.memory().numTensors).toBe(afterCreate);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects gradients that do not match the variables, and states of another size', () => {
    const rng = new Rng(10);
    const vars = makeVars(draw(rng));
    const opt = new AdamW(vars, cfg);
    const one = [tf.zeros([3])];
    expect(() => opt.step(one, 1e-3)).toThrow(/expected 2 gradients/);
    const wrong = [tf.zeros([3]), tf.zeros([4])];
    expect(() => opt.step(wrong, 1e-3)).toThrow(/shape/);
    const state = opt.getState();
    expect(() => opt.setState({ ...state, m: [state.m[0]] })).toThrow(RangeError);
    tf.dispose([...one, ...wrong]);
    opt.dispose();
  });
});

describe('clipByGlobalNorm (Pascanu et al. 2013)', () => {
  // Gradients [3, 4] and [12]: global norm sqrt(9 + 16 + 144) = 13.
  const make = () => [tf.tensor1d([3, 4]), tf.tensor1d([12])];
  const values = (ts: tf.Tensor[]) => ts.map((t) => Array.from(t.dataSync()));

  it('scales by maxNorm / norm when the norm is larger', () => {
    const grads = make();
    const out = clipByGlobalNorm(grads, 6.5);
    expect(out.globalNorm).toBeCloseTo(13, 5);
    const v = values(out.grads);
    // coefficient 6.5 / (13 + 1e-6) ≈ 0.5
    expect(v[0][0]).toBeCloseTo(1.5, 5);
    expect(v[0][1]).toBeCloseTo(2, 5);
    expect(v[1][0]).toBeCloseTo(6, 5);
    tf.dispose([...grads, ...out.grads]);
  });

  it('leaves gradients unchanged under the limit, when disabled, or when the norm is not finite', () => {
    const before = tf.memory().numTensors;
    for (const maxNorm of [100, 0]) {
      const grads = make();
      const out = clipByGlobalNorm(grads, maxNorm);
      expect(values(out.grads)).toEqual([[3, 4], [12]]);
      expect(out.grads[0]).not.toBe(grads[0]); // always new tensors: the caller disposes both sets
      tf.dispose([...grads, ...out.grads]);
    }
    const bad = [tf.tensor1d([NaN, 1])];
    const out = clipByGlobalNorm(bad, 1);
    expect(out.globalNorm).toBeNaN();
    expect(values(out.grads)[0][1]).toBe(1);
    tf.dispose([...bad, ...out.grads]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('guardedStep', () => {
  afterEach(() => tf.disposeVariables());

  it('skips a step whose gradient norm is NaN or infinite: weights, moments and step count stay as they were', () => {
    const vars = makeVars(draw(new Rng(7)));
    const opt = new AdamW(vars, { ...cfg, maxGradNorm: 1 });
    const good = () => SHAPES.map((s, i) => tf.fill(s, 0.1 * (i + 1)));
    const g1 = good();
    expect(guardedStep(opt, g1, 1, 1e-2).stepped).toBe(true);
    const after1 = read(vars);
    const state1 = opt.getState();
    for (const bad of [NaN, Infinity]) {
      const grads = good();
      // One poisoned element in one variable's gradient, as a diverged minibatch gives.
      const poisoned = [grads[0], tf.tensor(Float32Array.from([0.1, bad, 0.1, 0.1]), SHAPES[1])];
      const r = guardedStep(opt, poisoned, 1, 1e-2);
      expect(r.stepped).toBe(false);
      expect(Number.isFinite(r.globalNorm)).toBe(false);
      expect(read(vars)).toEqual(after1);
      expect(opt.getState()).toEqual(state1);
      tf.dispose([...grads, ...poisoned]);
    }
    // The next finite step continues exactly as if the bad ones never happened.
    const ref = new AdamWReference(draw(new Rng(7)), { ...cfg, maxGradNorm: 1 }, [true, true]);
    const plain = SHAPES.map((s, i) => Array.from({ length: sizeOf(s) }, () => 0.1 * (i + 1)));
    const norm = Math.sqrt(plain.flat().reduce((a, x) => a + x * x, 0));
    const scaled = plain.map((g) => g.map((x) => x * Math.min(1, 1 / (norm + 1e-6))));
    ref.step(scaled, 1e-2);
    ref.step(scaled, 1e-2);
    const g2 = good();
    expect(guardedStep(opt, g2, 1, 1e-2).stepped).toBe(true);
    expect(opt.stepsTaken).toBe(2);
    read(vars).forEach((v, i) => v.forEach((x, j) => expect(x).toBeCloseTo(ref.params[i][j], 5)));
    tf.dispose([...g1, ...g2]);
    opt.dispose();
  });
});

describe('learningRateAt', () => {
  // lr 1, 4 warm-up steps, 14 steps in all → 10 decay steps.
  const base = { learningRate: 1, warmupSteps: 4 };
  it('warms up linearly as nanoGPT, lr·(step+1)/(warmup+1)', () => {
    expect(learningRateAt(0, 14, { ...base, decay: 'linear' })).toBeCloseTo(0.2, 12);
    expect(learningRateAt(3, 14, { ...base, decay: 'linear' })).toBeCloseTo(0.8, 12);
  });

  it('decays linearly, by cosine, or not at all', () => {
    // step 4: progress 0; step 9: progress 0.5; step 13 (last): progress 0.9.
    expect(learningRateAt(4, 14, { ...base, decay: 'linear' })).toBeCloseTo(1, 12);
    expect(learningRateAt(9, 14, { ...base, decay: 'linear' })).toBeCloseTo(0.5, 12);
    expect(learningRateAt(13, 14, { ...base, decay: 'linear' })).toBeCloseTo(0.1, 12);
    expect(learningRateAt(9, 14, { ...base, decay: 'cosine' })).toBeCloseTo(0.5, 12);
    // 0.5 · (1 + cos(0.9π)) = 0.024471741852423
    expect(learningRateAt(13, 14, { ...base, decay: 'cosine' })).toBeCloseTo(0.024471741852423, 12);
    expect(learningRateAt(13, 14, { ...base, decay: 'none' })).toBe(1);
    // Past the end the rate stays at 0 rather than turning negative.
    expect(learningRateAt(20, 14, { ...base, decay: 'linear' })).toBe(0);
  });

  it('rejects a negative or fractional step', () => {
    expect(() => learningRateAt(-1, 10, { ...base, decay: 'none' })).toThrow(RangeError);
    expect(() => learningRateAt(1.5, 10, { ...base, decay: 'none' })).toThrow(RangeError);
  });
});
