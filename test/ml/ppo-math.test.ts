/**
 * PPO maths against naive plain-JS references (TRL 0.7 semantics) and hand-computed values.
 * Runs every check on the CPU backend and again on WASM, where tf.gather with batchDims is
 * known to be wrong, so logprobsFromLogits and its gradient are proven on both.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import { Rng } from '../../ml/rng';
import {
  clippedPolicyLoss,
  clippedValueLoss,
  entropyFromLogits,
  gae,
  klK1,
  klK3,
  klPenalisedRewards,
  lastMaskedPosition,
  logprobsFromLogits,
  maskedMean,
  maskedVar,
  maskedWhiten,
  meanSequenceKl,
} from '../../ml/ppo-math';

type M = number[][];

// ---- naive references (float64, loops) ----

function refMaskedMean(x: M, mask: M): number {
  let s = 0;
  let n = 0;
  x.forEach((row, b) => row.forEach((v, t) => ((s += v * mask[b][t]), (n += mask[b][t]))));
  return s / n;
}

function refMaskedVar(x: M, mask: M, unbiased: boolean): number {
  const m = refMaskedMean(x, mask);
  const sq = x.map((row) => row.map((v) => (v - m) ** 2));
  const n = mask.flat().reduce((a, b) => a + b, 0);
  const biased = refMaskedMean(sq, mask);
  return unbiased ? (biased * n) / (n - 1) : biased;
}

/** TRL 0.7 compute_advantages loop (before whitening), outputs masked. */
function gaeReference(rewards: M, values: M, mask: M, gamma: number, lam: number): { advantages: M; returns: M } {
  const advantages: M = [];
  const returns: M = [];
  for (let b = 0; b < rewards.length; b++) {
    const T = rewards[b].length;
    const r = rewards[b].map((v, t) => v * mask[b][t]);
    const v = values[b].map((x, t) => x * mask[b][t]);
    const adv = new Array<number>(T).fill(0);
    let last = 0;
    for (let t = T - 1; t >= 0; t--) {
      const next = t < T - 1 ? v[t + 1] : 0;
      const delta = r[t] + gamma * next - v[t];
      last = delta + gamma * lam * last;
      adv[t] = last;
    }
    advantages.push(adv.map((a, t) => a * mask[b][t]));
    returns.push(adv.map((a, t) => (a + v[t]) * mask[b][t]));
  }
  return { advantages, returns };
}

function refRewards(score: number[], logp: M, ref: M, mask: M, beta: number, k: 'k1' | 'k3'): { rewards: M; kl: M } {
  const kl = logp.map((row, b) =>
    row.map((lp, t) => {
      const d = lp - ref[b][t];
      const est = k === 'k1' ? d : Math.exp(-d) - 1 + d;
      return est * mask[b][t];
    }),
  );
  const rewards = kl.map((row, b) => {
    const out = row.map((x) => -beta * x);
    const last = mask[b].lastIndexOf(1);
    if (last >= 0) out[last] += score[b];
    return out;
  });
  return { rewards, kl };
}

function refPolicyLoss(logp: M, old: M, adv: M, mask: M, eps: number): { loss: number; clipFrac: number; approxKl: number } {
  const losses: M = [];
  const clipped: M = [];
  const sqlr: M = [];
  logp.forEach((row, b) => {
    losses.push([]);
    clipped.push([]);
    sqlr.push([]);
    row.forEach((lp, t) => {
      const ratio = Math.exp(lp - old[b][t]);
      const l1 = -adv[b][t] * ratio;
      const l2 = -adv[b][t] * Math.min(1 + eps, Math.max(1 - eps, ratio));
      losses[b].push(Math.max(l1, l2));
      clipped[b].push(l2 > l1 ? 1 : 0);
      sqlr[b].push((lp - old[b][t]) ** 2);
    });
  });
  return { loss: refMaskedMean(losses, mask), clipFrac: refMaskedMean(clipped, mask), approxKl: 0.5 * refMaskedMean(sqlr, mask) };
}

function refValueLoss(v: M, old: M, ret: M, mask: M, eps: number): { loss: number; clipFrac: number } {
  const losses = v.map((row, b) =>
    row.map((x, t) => {
      const c = Math.min(old[b][t] + eps, Math.max(old[b][t] - eps, x));
      return Math.max((x - ret[b][t]) ** 2, (c - ret[b][t]) ** 2);
    }),
  );
  const clipped = v.map((row, b) =>
    row.map((x, t) => {
      const c = Math.min(old[b][t] + eps, Math.max(old[b][t] - eps, x));
      return (c - ret[b][t]) ** 2 > (x - ret[b][t]) ** 2 ? 1 : 0;
    }),
  );
  return { loss: 0.5 * refMaskedMean(losses, mask), clipFrac: refMaskedMean(clipped, mask) };
}

function refLogSoftmax(z: number[]): number[] {
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((s, x) => s + Math.exp(x - m), 0));
  return z.map((x) => x - lse);
}

// ---- helpers ----

const rand = (rng: Rng, B: number, T: number, scale = 1): M => Array.from({ length: B }, () => Array.from({ length: T }, () => rng.normal() * scale));
/** Row b masks a prompt prefix and a padding suffix (left 1+b%2 zeros, right b%3 zeros), never empty. */
const responseMask = (B: number, T: number): M =>
  Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (t >= 1 + (b % 2) && t < T - (b % 3) ? 1 : 0)));
const t2 = (x: M) => tf.tensor2d(x, undefined, 'float32');
const arr2 = (t: tf.Tensor) => t.arraySync() as M;
const num = (t: tf.Tensor) => t.dataSync()[0];

function expectClose2(actual: M, expected: M, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, b) => row.forEach((v, t) => expect(Math.abs(v - expected[b][t])).toBeLessThanOrEqual(tol * (1 + Math.abs(expected[b][t])))));
}

async function useWasm(): Promise<void> {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep);
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend did not start');
}

const backends: Array<[string, () => Promise<void>]> = [
  ['cpu', async () => void (await tf.setBackend('cpu'))],
  ['wasm', useWasm],
];

describe.each(backends)('ppo-math on %s', (_name, activate) => {
  beforeAll(activate);

  let tensorsBefore = 0;
  beforeEach(() => {
    tensorsBefore = tf.memory().numTensors;
  });
  afterEach(() => {
    // Every test disposes what it created; the functions under test leak nothing.
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  describe('maskedMean / maskedVar / maskedWhiten', () => {
    // x = [[1,2,3],[4,5,6]], mask = [[1,1,0],[0,1,0]]: masked values 1, 2, 5.
    // mean = 8/3; squared deviations 25/9, 4/9, 49/9 sum to 78/9;
    // biased var = 78/27 = 26/9; unbiased (×3/2) = 13/3.
    const x = [
      [1, 2, 3],
      [4, 5, 6],
    ];
    const mask = [
      [1, 1, 0],
      [0, 1, 0],
    ];

    it('matches hand-computed values', () => {
      tf.tidy(() => {
        expect(num(maskedMean(t2(x), t2(mask)))).toBeCloseTo(8 / 3, 6);
        expect(Array.from(maskedMean(t2(x), t2(mask), 1).dataSync())).toEqual([1.5, 5]);
        expect(num(maskedVar(t2(x), t2(mask), false))).toBeCloseTo(26 / 9, 5);
        expect(num(maskedVar(t2(x), t2(mask)))).toBeCloseTo(13 / 3, 5);
        const w = arr2(maskedWhiten(t2(x), t2(mask)));
        // (1 − 8/3) / sqrt(13/3) = −0.800641...
        expect(w[0][0]).toBeCloseTo(-5 / 3 / Math.sqrt(13 / 3), 5);
        expect(w[1][1]).toBeCloseTo(7 / 3 / Math.sqrt(13 / 3), 5);
        const unshifted = arr2(maskedWhiten(t2(x), t2(mask), false));
        expect(unshifted[0][0]).toBeCloseTo(-5 / 3 / Math.sqrt(13 / 3) + 8 / 3, 5);
      });
    });

    it('whitened values have masked mean 0 and unbiased masked variance 1, matching the reference', () => {
      const rng = new Rng(7);
      const xs = rand(rng, 4, 9, 3);
      const m = responseMask(4, 9);
      tf.tidy(() => {
        expect(num(maskedMean(t2(xs), t2(m)))).toBeCloseTo(refMaskedMean(xs, m), 5);
        expect(num(maskedVar(t2(xs), t2(m)))).toBeCloseTo(refMaskedVar(xs, m, true), 4);
        const w = maskedWhiten(t2(xs), t2(m));
        expect(num(maskedMean(w, t2(m)))).toBeCloseTo(0, 5);
        expect(num(maskedVar(w, t2(m)))).toBeCloseTo(1, 4);
      });
    });
  });

  describe('KL estimators', () => {
    it('k1 and k3 match hand values: π = 0.5, π_ref = 0.25', () => {
      tf.tidy(() => {
        const lp = tf.tensor2d([[Math.log(0.5)]]);
        const ref = tf.tensor2d([[Math.log(0.25)]]);
        expect(num(klK1(lp, ref))).toBeCloseTo(Math.log(2), 6); // 0.693147
        // r = 0.25 / 0.5 = 0.5: (0.5 − 1) − ln 0.5 = 0.193147
        expect(num(klK3(lp, ref))).toBeCloseTo(-0.5 + Math.log(2), 6);
      });
    });

    it('k3 is never negative and is 0 where the policies agree', () => {
      const rng = new Rng(11);
      const lp = rand(rng, 3, 5);
      const ref = rand(rng, 3, 5);
      tf.tidy(() => {
        const k3 = arr2(klK3(t2(lp), t2(ref)));
        k3.flat().forEach((v) => expect(v).toBeGreaterThanOrEqual(0));
        expect(arr2(klK3(t2(lp), t2(lp))).flat().every((v) => v === 0)).toBe(true);
      });
    });
  });

  describe('klPenalisedRewards', () => {
    it('charges −β·kl per token and adds the score on the last response token (hand values)', () => {
      // Row 0: all three tokens are response, k1 = [0.1, 0.2, 0.3], β = 0.5, score 2
      //   → rewards [−0.05, −0.1, −0.15 + 2].
      // Row 1: response is position 1 only (prompt at 0, padding at 2), k1 = 0.4, score −1
      //   → rewards [0, −0.2 − 1, 0]; masked kl is 0 at positions 0 and 2.
      tf.tidy(() => {
        const logp = t2([
          [0.1, 0.2, 0.3],
          [9, 0.4, 9],
        ]);
        const ref = tf.zeros([2, 3]) as tf.Tensor2D;
        const mask = t2([
          [1, 1, 1],
          [0, 1, 0],
        ]);
        const out = klPenalisedRewards(tf.tensor1d([2, -1]), logp, ref, mask, 0.5, 'k1');
        expectClose2(arr2(out.rewards), [
          [-0.05, -0.1, 1.85],
          [0, -1.2, 0],
        ]);
        expectClose2(arr2(out.nonScoreReward), [
          [-0.05, -0.1, -0.15],
          [0, -0.2, 0],
        ]);
        expectClose2(arr2(out.kl), [
          [0.1, 0.2, 0.3],
          [0, 0.4, 0],
        ]);
        // Mean summed KL per row: (0.6 + 0.4) / 2.
        expect(num(meanSequenceKl(out.kl, mask))).toBeCloseTo(0.5, 6);
      });
    });

    it.each(['k1', 'k3'] as const)('matches the reference with %s on random data', (k) => {
      const rng = new Rng(k === 'k1' ? 21 : 22);
      const [B, T] = [5, 7];
      const logp = rand(rng, B, T, 0.5);
      const ref = rand(rng, B, T, 0.5);
      const mask = responseMask(B, T);
      const score = Array.from({ length: B }, () => rng.normal());
      const expected = refRewards(score, logp, ref, mask, 0.2, k);
      tf.tidy(() => {
        const out = klPenalisedRewards(tf.tensor1d(score), t2(logp), t2(ref), t2(mask), 0.2, k);
        expectClose2(arr2(out.rewards), expected.rewards);
        expectClose2(arr2(out.kl), expected.kl);
      });
    });

    it('lastMaskedPosition handles T = 1 and an empty row', () => {
      tf.tidy(() => {
        expect(arr2(lastMaskedPosition(t2([[1], [0]])))).toEqual([[1], [0]]);
        expect(
          arr2(
            lastMaskedPosition(
              t2([
                [0, 0, 0],
                [1, 1, 0],
              ]),
            ),
          ),
        ).toEqual([
          [0, 0, 0],
          [0, 1, 0],
        ]);
      });
    });
  });

  describe('gae', () => {
    it('matches a 3-step example worked by hand', () => {
      // γ = 0.9, λ = 0.5 (γλ = 0.45), rewards [0, 0, 1], values [0.5, 0.5, 0.5], all response.
      // δ2 = 1 + 0.9·0 − 0.5 = 0.5            (bootstrap 0 after the last token)
      // δ1 = 0 + 0.9·0.5 − 0.5 = −0.05
      // δ0 = 0 + 0.9·0.5 − 0.5 = −0.05
      // Â2 = 0.5; Â1 = −0.05 + 0.45·0.5 = 0.175; Â0 = −0.05 + 0.45·0.175 = 0.02875
      // R = Â + V = [0.52875, 0.675, 1.0]
      tf.tidy(() => {
        const { advantages, returns } = gae(t2([[0, 0, 1]]), t2([[0.5, 0.5, 0.5]]), t2([[1, 1, 1]]), 0.9, 0.5);
        expectClose2(arr2(advantages), [[0.02875, 0.175, 0.5]], 1e-6);
        expectClose2(arr2(returns), [[0.52875, 0.675, 1.0]], 1e-6);
      });
    });

    it('bootstraps 0 after the last response token even when padding carries a value', () => {
      // Response = positions 1..2; position 3 is padding with a value of 100 that must not leak.
      // γ = λ = 1: Â2 = 1 − 0.5 = 0.5; Â1 = (0 + 0.5 − 0.5) + 0.5 = 0.5.
      tf.tidy(() => {
        const { advantages, returns } = gae(t2([[7, 0, 1, 5]]), t2([[3, 0.5, 0.5, 100]]), t2([[0, 1, 1, 0]]), 1, 1);
        expectClose2(arr2(advantages), [[0, 0.5, 0.5, 0]], 1e-6);
        expectClose2(arr2(returns), [[0, 1, 1, 0]], 1e-6);
      });
    });

    it.each([
      [1, 0.95],
      [0.99, 0.9],
      [1, 0],
    ])('matches the naive backward recursion (γ=%p, λ=%p)', (gamma, lam) => {
      const rng = new Rng(31);
      const [B, T] = [4, 12];
      const r = rand(rng, B, T);
      const v = rand(rng, B, T);
      const mask = responseMask(B, T);
      const expected = gaeReference(r, v, mask, gamma, lam);
      tf.tidy(() => {
        const out = gae(t2(r), t2(v), t2(mask), gamma, lam);
        expectClose2(arr2(out.advantages), expected.advantages, 1e-5);
        expectClose2(arr2(out.returns), expected.returns, 1e-5);
      });
    });
  });

  describe('clippedPolicyLoss', () => {
    // Token 0: ratio 1.5, A = +1 → −A·r = −1.5, −A·clip(r) = −1.2 → max −1.2 (clipped).
    // Token 1: ratio 0.9, A = −1 → both 0.9 (inside [0.8, 1.2]) → 0.9 (not clipped).
    // loss = (−1.2 + 0.9)/2 = −0.15, clipFrac = 0.5, ratioMean = 1.2, ratioVar = 0.09,
    // approxKl = 0.5 · (ln²1.5 + ln²0.9)/2 = 0.043876.
    const old = [[0, 0]];
    const lp = [[Math.log(1.5), Math.log(0.9)]];
    const adv = [[1, -1]];
    const mask = [[1, 1]];

    it('matches hand values with clipping active on one token', () => {
      tf.tidy(() => {
        const out = clippedPolicyLoss(t2(lp), t2(old), t2(adv), t2(mask), 0.2);
        expect(num(out.loss)).toBeCloseTo(-0.15, 6);
        expect(num(out.clipFrac)).toBeCloseTo(0.5, 6);
        expect(num(out.ratioMean)).toBeCloseTo(1.2, 6);
        expect(num(out.ratioVar)).toBeCloseTo(0.09, 6);
        expect(num(out.approxKl)).toBeCloseTo((0.5 * (Math.log(1.5) ** 2 + Math.log(0.9) ** 2)) / 2, 6);
      });
    });

    it('is the plain surrogate when no ratio leaves the clip range', () => {
      // ratios 1.1 (A=2) and 0.95 (A=−1): loss = (−2.2 + 0.95)/2 = −0.625, nothing clipped.
      tf.tidy(() => {
        const out = clippedPolicyLoss(t2([[Math.log(1.1), Math.log(0.95)]]), t2(old), t2([[2, -1]]), t2(mask), 0.2);
        expect(num(out.loss)).toBeCloseTo(-0.625, 6);
        expect(num(out.clipFrac)).toBe(0);
      });
    });

    it('passes no gradient through a clipped token', () => {
      // d loss / d logp: token 0 clipped → 0; token 1: d(−A·e^{lp})/2 = −(−1)·0.9/2 = 0.45.
      tf.tidy(() => {
        const g = tf.grad((x: tf.Tensor) => clippedPolicyLoss(x as tf.Tensor2D, t2(old), t2(adv), t2(mask), 0.2).loss)(t2(lp));
        expectClose2(arr2(g), [[0, 0.45]], 1e-6);
      });
    });

    it('matches the reference on random data', () => {
      const rng = new Rng(41);
      const [B, T] = [4, 6];
      const o = rand(rng, B, T, 0.3);
      const l = o.map((row) => row.map((x) => x + rng.normal() * 0.3));
      const a = rand(rng, B, T);
      const m = responseMask(B, T);
      const expected = refPolicyLoss(l, o, a, m, 0.2);
      tf.tidy(() => {
        const out = clippedPolicyLoss(t2(l), t2(o), t2(a), t2(m), 0.2);
        expect(num(out.loss)).toBeCloseTo(expected.loss, 5);
        expect(num(out.clipFrac)).toBeCloseTo(expected.clipFrac, 6);
        expect(num(out.approxKl)).toBeCloseTo(expected.approxKl, 6);
      });
    });
  });

  describe('clippedValueLoss', () => {
    it('matches hand values with clipping active on one token', () => {
      // old = [0, 0], ε = 0.2, returns [1, 1].
      // Token 0: v = 0.5 → clipped 0.2: (0.5−1)² = 0.25, (0.2−1)² = 0.64 → 0.64 (clipped).
      // Token 1: v = 0.1 inside the range: 0.81 both → 0.81.
      // loss = 0.5 · (0.64 + 0.81)/2 = 0.3625, clipFrac 0.5.
      tf.tidy(() => {
        const out = clippedValueLoss(t2([[0.5, 0.1]]), t2([[0, 0]]), t2([[1, 1]]), t2([[1, 1]]), 0.2);
        expect(num(out.loss)).toBeCloseTo(0.3625, 6);
        expect(num(out.clipFrac)).toBeCloseTo(0.5, 6);
      });
    });

    it('is 0.5·MSE when nothing is clipped, and differentiable', () => {
      // v = [0.1, −0.1], old 0, R = [1, 0] → 0.5 · (0.81 + 0.01)/2 = 0.205; dL/dv = (v − R)/2.
      tf.tidy(() => {
        const f = (v: tf.Tensor) => clippedValueLoss(v as tf.Tensor2D, t2([[0, 0]]), t2([[1, 0]]), t2([[1, 1]]), 0.2).loss;
        expect(num(f(t2([[0.1, -0.1]])))).toBeCloseTo(0.205, 6);
        expect(num(clippedValueLoss(t2([[0.1, -0.1]]), t2([[0, 0]]), t2([[1, 0]]), t2([[1, 1]]), 0.2).clipFrac)).toBe(0);
        expectClose2(arr2(tf.grad(f)(t2([[0.1, -0.1]]))), [[-0.45, -0.05]], 1e-6);
      });
    });

    it('matches the reference on random data', () => {
      const rng = new Rng(51);
      const [B, T] = [3, 8];
      const old = rand(rng, B, T);
      const v = old.map((row) => row.map((x) => x + rng.normal() * 0.4));
      const ret = rand(rng, B, T);
      const m = responseMask(B, T);
      const expected = refValueLoss(v, old, ret, m, 0.2);
      tf.tidy(() => {
        const out = clippedValueLoss(t2(v), t2(old), t2(ret), t2(m), 0.2);
        expect(num(out.loss)).toBeCloseTo(expected.loss, 5);
        expect(num(out.clipFrac)).toBeCloseTo(expected.clipFrac, 6);
      });
    });
  });

  describe('entropyFromLogits / logprobsFromLogits', () => {
    it('match hand values', () => {
      // logits [0, 0, ln 2] → probs [0.25, 0.25, 0.5];
      // H = −(2·0.25·ln 0.25 + 0.5·ln 0.5) = 1.5·ln 2 = 1.039721; log p(2) = ln 0.5.
      // Uniform logits over 3 → H = ln 3.
      tf.tidy(() => {
        const logits = tf.tensor3d([[[0, 0, Math.log(2)], [5, 5, 5]]]); // [1, 2, 3]
        expectClose2(arr2(entropyFromLogits(logits)), [[1.5 * Math.log(2), Math.log(3)]], 1e-6);
        const labels = tf.tensor2d([[2, 0]], undefined, 'int32');
        expectClose2(arr2(logprobsFromLogits(logits, labels)), [[Math.log(0.5), -Math.log(3)]], 1e-6);
      });
    });

    it('logprobs match the reference and their gradient is onehot − softmax', () => {
      const rng = new Rng(61);
      const [B, T, V] = [2, 3, 5];
      const z = Array.from({ length: B }, () => rand(rng, T, V, 2));
      const labels = Array.from({ length: B }, () => Array.from({ length: T }, () => rng.int(V)));
      tf.tidy(() => {
        const logits = tf.tensor3d(z);
        const lab = tf.tensor2d(labels, undefined, 'int32');
        const expected = z.map((row, b) => row.map((zt, t) => refLogSoftmax(zt)[labels[b][t]]));
        expectClose2(arr2(logprobsFromLogits(logits, lab)), expected, 1e-5);
        // d Σ log p(label) / d z = onehot(label) − softmax(z)
        const g = tf.grad((x: tf.Tensor) => tf.sum(logprobsFromLogits(x as tf.Tensor3D, lab)))(logits).arraySync() as number[][][];
        z.forEach((row, b) =>
          row.forEach((zt, t) => {
            const p = refLogSoftmax(zt).map(Math.exp);
            p.forEach((pv, v) => expect(g[b][t][v]).toBeCloseTo((v === labels[b][t] ? 1 : 0) - pv, 5));
          }),
        );
      });
    });
  });
});
