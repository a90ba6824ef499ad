/**
 * ml/'s PPO maths against TRL 0.7.11's OWN code: the fixtures in test/ml/fixtures/trl/ were written
 * by generate.py, which calls TRL's `PPOTrainer.compute_rewards`, `compute_advantages`, `loss`,
 * `AdaptiveKLController`/`FixedKLController` and `trl.core`'s masked helpers on seeded float64
 * inputs. No Python runs here. ml/ computes in float32, so values agree to 1e-6 (absolute for
 * |x| ≤ 1, relative above: float32 keeps about 7 significant digits).
 *
 * TRL's compute_rewards / compute_advantages outputs are not masked (kl at prompt positions is
 * logp − ref there; advantages leak into prompt positions); ml/ zeroes them. Only positions with
 * mask 1 feed the loss in either, so those are compared.
 */
import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  clippedPolicyLoss,
  clippedValueLoss,
  entropyFromLogits,
  gae,
  klPenalisedRewards,
  logprobsFromLogits,
  maskedMean,
  maskedVar,
  maskedWhiten,
} from '../../ml/ppo-math';
import { computeAdvantages } from '../../ml/ppo-advantages';
import { AdaptiveKlController, FixedKlController } from '../../ml/kl-controller';

type M = number[][];
const TOL = 1e-6;
const FIXTURES = path.join(__dirname, 'fixtures', 'trl');
const load = <T>(name: string): T => JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8')) as T;

function close(actual: number, expected: number, what: string): void {
  const err = Math.abs(actual - expected);
  if (!(err <= TOL * Math.max(1, Math.abs(expected)))) {
    throw new Error(`${what}: ours ${actual}, TRL ${expected} (|Δ| = ${err})`);
  }
}

function closeMasked(actual: M, expected: M, mask: M, what: string): void {
  let compared = 0;
  expected.forEach((row, b) =>
    row.forEach((v, t) => {
      if (mask[b][t] === 0) return;
      close(actual[b][t], v, `${what}[${b}][${t}]`);
      compared++;
    }),
  );
  expect(compared).toBeGreaterThan(0);
}

function closeAll(actual: number[], expected: number[], what: string): void {
  expect(actual).toHaveLength(expected.length);
  expected.forEach((v, i) => close(actual[i], v, `${what}[${i}]`));
}

const t2 = (x: M) => tf.tensor2d(x, undefined, 'float32');
const read2 = (x: tf.Tensor) => x.arraySync() as M;
const read0 = (x: tf.Tensor) => x.dataSync()[0];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterEach(() => {
  // Every test disposes what it made; a leak here means a helper forgot a tidy.
  expect(tf.memory().numTensors).toBe(0);
});

test('the fixtures are TRL 0.7.11 float64', () => {
  for (const f of ['core.json', 'rewards-advantages.json', 'loss.json', 'kl-controller.json']) {
    expect(load<{ meta: { trl: string; dtype: string } }>(f).meta).toMatchObject({ trl: '0.7.11', dtype: 'float64' });
  }
});

interface CoreFixture {
  masked: {
    x: M;
    mask: M;
    full_mask: M;
    masked_mean: number;
    masked_mean_axis1: number[];
    masked_var_unbiased: number;
    masked_var_biased: number;
    masked_whiten: M;
    masked_whiten_keep_mean: M;
    whiten: M;
  };
  logits: { logits: number[][][]; labels: M; logprobs_from_logits: M; entropy_from_logits: M };
}

test('masked_mean / masked_var / masked_whiten / whiten match trl.core', () => {
  const { masked: f } = load<CoreFixture>('core.json');
  tf.tidy(() => {
    const x = t2(f.x);
    const mask = t2(f.mask);
    close(read0(maskedMean(x, mask)), f.masked_mean, 'masked_mean');
    closeAll(Array.from(maskedMean(x, mask, 1).dataSync()), f.masked_mean_axis1, 'masked_mean(axis=1)');
    close(read0(maskedVar(x, mask, true)), f.masked_var_unbiased, 'masked_var');
    close(read0(maskedVar(x, mask, false)), f.masked_var_biased, 'masked_var(unbiased=False)');
    // TRL whitens every position (masked-out ones too) with the masked statistics; so does ml/.
    const ones = f.full_mask;
    closeMasked(read2(maskedWhiten(x, mask)), f.masked_whiten, ones, 'masked_whiten');
    closeMasked(read2(maskedWhiten(x, mask, false)), f.masked_whiten_keep_mean, ones, 'masked_whiten(shift_mean=False)');
    closeMasked(read2(maskedWhiten(x, t2(ones))), f.whiten, ones, 'whiten');
  });
});

test('logprobs_from_logits and entropy_from_logits match trl.core', () => {
  const { logits: f } = load<CoreFixture>('core.json');
  tf.tidy(() => {
    const logits = tf.tensor3d(f.logits, undefined, 'float32');
    const labels = tf.tensor2d(f.labels, undefined, 'int32');
    const ones = f.labels.map((r) => r.map(() => 1));
    closeMasked(read2(logprobsFromLogits(logits, labels)), f.logprobs_from_logits, ones, 'logprobs_from_logits');
    closeMasked(read2(entropyFromLogits(logits)), f.entropy_from_logits, ones, 'entropy_from_logits');
  });
});

interface RewardsCase {
  kl_coef: number;
  gamma: number;
  lam: number;
  scores: number[];
  logprobs: M;
  ref_logprobs: M;
  values: M;
  mask: M;
  rewards: M;
  non_score_rewards: M;
  kls: M;
  advantages_whitened: M;
  returns: M;
}

describe.each(load<{ cases: RewardsCase[] }>('rewards-advantages.json').cases.map((c) => [`β ${c.kl_coef}, γ ${c.gamma}, λ ${c.lam}`, c] as const))(
  'PPOTrainer.compute_rewards + compute_advantages (%s)',
  (_name, c) => {
    test('klPenalisedRewards (k1) and gae + maskedWhiten match TRL', () => {
      tf.tidy(() => {
        const mask = t2(c.mask);
        const r = klPenalisedRewards(tf.tensor1d(c.scores), t2(c.logprobs), t2(c.ref_logprobs), mask, c.kl_coef, 'k1');
        closeMasked(read2(r.rewards), c.rewards, c.mask, 'rewards');
        closeMasked(read2(r.nonScoreReward), c.non_score_rewards, c.mask, 'non_score_rewards');
        closeMasked(read2(r.kl), c.kls, c.mask, 'kls');
        const g = gae(r.rewards, t2(c.values), mask, c.gamma, c.lam);
        closeMasked(read2(maskedWhiten(g.advantages, mask)), c.advantages_whitened, c.mask, 'advantages (whitened)');
        closeMasked(read2(g.returns), c.returns, c.mask, 'returns');
      });
    });

    test('the phase function computeAdvantages matches TRL end to end', () => {
      const fwd = { logprobs: t2(c.logprobs), refLogprobs: t2(c.ref_logprobs), values: t2(c.values) };
      const mask = t2(c.mask);
      const out = computeAdvantages(fwd, mask, c.scores, c.kl_coef, { klEstimator: 'k1', gamma: c.gamma, lam: c.lam, whitenAdvantages: true });
      closeMasked(read2(out.advantages), c.advantages_whitened, c.mask, 'advantages');
      closeMasked(read2(out.returns), c.returns, c.mask, 'returns');
      // TRL's objective/kl input: per-row sum of the masked kl.
      const klSums = c.kls.map((row, b) => row.reduce((s, v, t) => s + v * c.mask[b][t], 0));
      closeAll(out.klPerSequence, klSums, 'kl per sequence');
      tf.dispose([fwd.logprobs, fwd.refLogprobs, fwd.values, mask, out.advantages, out.returns]);
    });
  },
);

interface LossCase {
  cliprange: number;
  cliprange_value: number;
  vf_coef: number;
  ratio_threshold: number;
  logits: number[][][];
  labels: M;
  old_logprobs: M;
  values: M;
  vpreds: M;
  mask: M;
  advantages: M;
  returns: M;
  avg_ratio: number;
  skipped: boolean;
  pg_loss: number;
  vf_loss_times_vf_coef: number;
  loss_total: number;
  loss_policy: number;
  loss_value: number;
  policy_clipfrac: number;
  policy_approxkl: number;
  policy_entropy: number;
  val_clipfrac: number;
}

const lossCases = load<{ cases: LossCase[] }>('loss.json').cases;

test('the fixtures cover TRL’s ratio_threshold skip', () => {
  expect(lossCases.map((c) => c.skipped)).toEqual([false, false, true]);
});

describe.each(lossCases.map((c, i) => [`case ${i}, mean ratio ${c.avg_ratio.toFixed(3)}`, c] as const))('PPOTrainer.loss (%s)', (_name, c) => {
  test('clipped policy + value loss and their statistics match TRL', () => {
    tf.tidy(() => {
      const mask = t2(c.mask);
      const logits = tf.tensor3d(c.logits, undefined, 'float32');
      const logp = logprobsFromLogits(logits, tf.tensor2d(c.labels, undefined, 'int32'));
      const pg = clippedPolicyLoss(logp, t2(c.old_logprobs), t2(c.advantages), mask, c.cliprange);
      const vf = clippedValueLoss(t2(c.vpreds), t2(c.values), t2(c.returns), mask, c.cliprange_value);
      const ratioMean = read0(pg.ratioMean);
      close(ratioMean, c.avg_ratio, 'mean ratio');
      // ml/ppo-update drops the minibatch exactly when TRL zeroes its loss.
      expect(ratioMean > c.ratio_threshold).toBe(c.skipped);
      if (!c.skipped) {
        close(read0(pg.loss), c.pg_loss, 'loss/policy');
        close(read0(vf.loss) * c.vf_coef, c.vf_loss_times_vf_coef, 'vf_coef · loss/value');
        close(read0(vf.loss), c.loss_value, 'loss/value');
        close(read0(pg.loss) + c.vf_coef * read0(vf.loss), c.loss_total, 'loss/total');
      } else {
        // TRL reports the skipped minibatch's losses as 0 (and still steps the optimizer: docs/metrics.md).
        expect([c.pg_loss, c.loss_value, c.loss_total]).toEqual([0, 0, 0]);
      }
      close(read0(pg.clipFrac), c.policy_clipfrac, 'policy/clipfrac');
      close(read0(pg.approxKl), c.policy_approxkl, 'policy/approxkl');
      close(read0(vf.clipFrac), c.val_clipfrac, 'val/clipfrac');
      close(read0(maskedMean(entropyFromLogits(logits), mask)), c.policy_entropy, 'policy/entropy');
    });
  });
});

interface KlFixture {
  updates: [number, number][];
  adaptive: number[];
  adaptive_short_horizon: number[];
  fixed: number[];
  adaptive_init: { init_kl_coef: number; target: number; horizon: number };
  adaptive_short_horizon_init: { init_kl_coef: number; target: number; horizon: number };
  fixed_init: { kl_coef: number };
}

test('AdaptiveKLController and FixedKLController: β after every update matches TRL', () => {
  const f = load<KlFixture>('kl-controller.json');
  const a = new AdaptiveKlController(f.adaptive_init.init_kl_coef, f.adaptive_init.target, f.adaptive_init.horizon);
  const s = f.adaptive_short_horizon_init;
  const short = new AdaptiveKlController(s.init_kl_coef, s.target, s.horizon);
  const fixed = new FixedKlController(f.fixed_init.kl_coef, 6, 10000);
  f.updates.forEach(([kl, n], i) => {
    a.update(kl, n);
    short.update(kl, n);
    fixed.update(kl, n);
    // Both sides are float64 here: agreement is to rounding.
    expect(Math.abs(a.value - f.adaptive[i])).toBeLessThan(1e-12);
    expect(Math.abs(short.value - f.adaptive_short_horizon[i])).toBeLessThan(1e-12);
    expect(fixed.value).toBe(f.fixed[i]);
  });
});
