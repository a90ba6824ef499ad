/**
 * Parity between ml/ (TypeScript) and the PyTorch reference in bench/reference/, on one fixed
 * PPO batch: the same weights give the same log-probs, values, KL-penalised rewards, GAE,
 * whitened advantages, clipped policy and value losses, entropy and gradient norm, to 1e-5.
 * The expected numbers come from the committed fixture written by bench/reference/parity.py,
 * so this test needs no torch. Checked on the CPU backend and on WASM (what the benches use).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { initBackend } from '../../ml/backend';
import type { ModelConfig } from '../../spec/run-config';
import { GptModel } from '../../ml/model';
import { computeAdvantages } from '../../ml/ppo-advantages';
import { rolloutForward, shiftedForward } from '../../ml/ppo-forward';
import { clippedPolicyLoss, clippedValueLoss, entropyFromLogits, gae, klPenalisedRewards, maskedMean } from '../../ml/ppo-math';
import { Rng } from '../../ml/rng';
import { tf } from '../../ml/tf';

interface ParityFixture {
  model: ModelConfig;
  ppo: { gamma: number; lam: number; cliprange: number; cliprangeValue: number; vfCoef: number; temperature: number; klCoef: number; klEstimator: 'k1' };
  weights: Record<string, number[]>;
  batch: { shape: [number, number]; ids: number[]; attentionMask: number[]; responseMask: number[]; scores: number[]; oldLogprobs: number[]; oldValues: number[] };
  expected: Record<string, number | number[]>;
}

const TOLERANCE = 1e-5;
const fixture = JSON.parse(readFileSync(path.join(__dirname, '../../bench/reference/parity-fixture.json'), 'utf8')) as ParityFixture;

/** Largest absolute difference between two equally long number lists. */
function maxAbsDiff(actual: ArrayLike<number>, expected: readonly number[]): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  return worst;
}

function expectClose(name: string, actual: tf.Tensor | number, expected: number | number[] | undefined): void {
  if (expected === undefined) throw new Error(`fixture has no expected '${name}'`);
  const values = typeof actual === 'number' ? [actual] : Array.from(actual.dataSync());
  const diff = maxAbsDiff(values, typeof expected === 'number' ? [expected] : expected);
  // The name in the message tells which quantity diverged.
  expect({ name, diff: diff <= TOLERANCE ? 'ok' : diff }).toEqual({ name, diff: 'ok' });
}

/** Everything ml/ computes on the fixture's batch, with the fixture's weights. */
function computeAll() {
  const { batch, ppo } = fixture;
  const [b, t] = batch.shape;
  const weights = Object.fromEntries(Object.entries(fixture.weights).map(([k, v]) => [k, Float32Array.from(v)]));
  const policy = GptModel.fromWeights(fixture.model, weights, new Rng(1));
  try {
    return tf.tidy(() => {
      const ids = tf.tensor2d(batch.ids, [b, t], 'int32'); // [B, T]
      const attentionMask = tf.tensor2d(batch.attentionMask, [b, t]); // [B, T]
      const responseMask = tf.tensor2d(batch.responseMask, [b, t - 1]); // [B, T-1]
      const fwd = rolloutForward(policy, { ids, attentionMask, responseMask }, ppo.temperature); // [B, T-1] ×3
      const { rewards, kl } = klPenalisedRewards(tf.tensor1d(batch.scores), fwd.logprobs, fwd.refLogprobs, responseMask, ppo.klCoef, ppo.klEstimator);
      const raw = gae(rewards, fwd.values, responseMask, ppo.gamma, ppo.lam);
      const adv = computeAdvantages(fwd, responseMask, batch.scores, ppo.klCoef, { ...ppo, whitenAdvantages: true });
      const oldLogprobs = tf.tensor2d(batch.oldLogprobs, [b, t - 1]);
      const oldValues = tf.tensor2d(batch.oldValues, [b, t - 1]);
      const lossOf = () => {
        const cur = shiftedForward(policy, ids, attentionMask, true, ppo.temperature);
        const pg = clippedPolicyLoss(cur.logprobs, oldLogprobs, adv.advantages, responseMask, ppo.cliprange);
        const vf = clippedValueLoss(cur.values, oldValues, adv.returns, responseMask, ppo.cliprangeValue);
        const entropy = maskedMean(entropyFromLogits(cur.logits), responseMask);
        return { pg, vf, entropy, total: tf.add(pg.loss, tf.mul(vf.loss, ppo.vfCoef)) as tf.Scalar };
      };
      const parts = lossOf();
      const { grads } = tf.variableGrads(() => lossOf().total, policy.trainableVariables('lora'));
      const gradNorm = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))));
      return {
        logprobs: fwd.logprobs,
        refLogprobs: fwd.refLogprobs,
        values: fwd.values,
        rewards,
        kl,
        advantagesRaw: raw.advantages,
        advantages: adv.advantages,
        returns: adv.returns,
        policyLoss: parts.pg.loss,
        policyClipFrac: parts.pg.clipFrac,
        approxKl: parts.pg.approxKl,
        ratioMean: parts.pg.ratioMean,
        valueLoss: parts.vf.loss,
        valueClipFrac: parts.vf.clipFrac,
        totalLoss: parts.total,
        entropy: parts.entropy,
        gradNorm,
      };
    });
  } finally {
    policy.dispose();
  }
}

describe.each(['cpu', 'wasm'])('TypeScript ml/ against the PyTorch reference on %s', (backend) => {
  let computed: Record<string, tf.Tensor>;

  beforeAll(async () => {
    await initBackend({ prefer: 'wasm', log: () => undefined }); // registers and readies WASM
    await tf.setBackend(backend);
    computed = computeAll();
  });

  afterAll(() => {
    tf.dispose(Object.values(computed));
  });

  it('the fixture exercises masking and both clip branches', () => {
    const { expected } = fixture;
    expect(expected.policyClipFrac).toBeGreaterThan(0);
    expect(expected.policyClipFrac).toBeLessThan(1);
    expect(expected.valueClipFrac).toBeGreaterThan(0);
    expect(new Set(fixture.batch.attentionMask).size).toBe(2); // padding present
  });

  it.each(['logprobs', 'refLogprobs', 'values', 'rewards', 'kl', 'advantagesRaw', 'advantages', 'returns'])('%s match per token', (name) => {
    expectClose(name, computed[name], fixture.expected[name]);
  });

  it.each(['policyLoss', 'policyClipFrac', 'approxKl', 'ratioMean', 'valueLoss', 'valueClipFrac', 'totalLoss', 'entropy', 'gradNorm'])(
    '%s matches',
    (name) => {
      expectClose(name, computed[name], fixture.expected[name]);
    },
  );
});
