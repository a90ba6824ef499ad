import { initBackend } from '../../ml/backend';
import { resolveRunConfig } from '../../spec/run-config';
import { clusterBootstrap, distinctN, evaluatePolicies, notImprovedReason } from '../../ml/evaluation';
import { GptModel } from '../../ml/model';
import { RewardModel } from '../../ml/reward-model';
import { Rng } from '../../ml/rng';
import { fitScoreNormalization } from '../../ml/score-normalization';
import { ByteTokenizer } from '../../ml/tokenizer';
import { tf } from '../../ml/tf';

beforeAll(async () => {
  await initBackend({ log: () => undefined });
});

describe('evaluation statistics', () => {
  it('distinct-n counts distinct n-grams over all n-grams', () => {
    expect(distinctN(['a b a b', 'a b'], 1)).toBeCloseTo(2 / 6, 10);
    expect(distinctN(['a b a b', 'a b'], 2)).toBeCloseTo(2 / 4, 10);
    expect(distinctN(['', ' '], 1)).toBe(0);
  });

  it('the cluster bootstrap interval holds the mean, is seeded, and is narrow for constant clusters', () => {
    const clusters = Array.from({ length: 20 }, (_, i) => [i % 5, (i % 5) + 1]);
    const a = clusterBootstrap(clusters, 500, new Rng(3));
    expect(a).toEqual(clusterBootstrap(clusters, 500, new Rng(3)));
    expect(a.lo).toBeLessThan(a.mean);
    expect(a.hi).toBeGreaterThan(a.mean);
    expect(clusterBootstrap([[1, 1], [1, 1]], 100, new Rng(1))).toEqual({ mean: 1, lo: 1, hi: 1 });
  });
});

describe('evaluatePolicies on a real (untrained) model', () => {
  const tok = new ByteTokenizer();
  const cfg = resolveRunConfig('quick', { seed: 5 });

  it('a final policy identical to its start (LoRA B = 0) is not_improved, with KL 0, ties and the reason stated', async () => {
    const rng = new Rng(5);
    const policy = GptModel.create(cfg.policyModel, rng);
    const reward = new RewardModel(GptModel.create(cfg.reward.model, rng), cfg.reward.model, fitScoreNormalization([0, 1]));
    try {
      const { report, samples } = await evaluatePolicies({
        policy,
        reward,
        tokenizer: tok,
        prompts: ['Q1: ', 'Q2: ', 'Q2: ', 'Q3: '],
        generation: { ...cfg.ppo.generation, maxNewTokens: 6, minNewTokens: 2 },
        blockSize: cfg.policyModel.blockSize,
        samplesPerPrompt: 3,
        maxPrompts: 10,
        seed: 9,
        pairsShown: 2,
      });
      expect(report.prompts).toBe(3);
      expect(samples.start).toEqual(samples.final); // same weights, same seed
      expect(report.rewardGain).toEqual({ mean: 0, lo: 0, hi: 0 });
      expect(report.winRate.mean).toBe(0.5);
      expect(report.final.klToReference.mean).toBeCloseTo(0, 5);
      expect(report.start.klToReference).toEqual({ mean: 0, lo: 0, hi: 0 });
      expect(report.significant).toBe(false);
      expect(report.verdict).toBe('not_improved');
      expect(report.reason).toMatch(/not above 0/);
      expect(report.pairs).toHaveLength(2);
      for (const t of samples.final) expect(Buffer.byteLength(t)).toBeGreaterThanOrEqual(0);
    } finally {
      policy.dispose();
      reward.dispose();
    }
  });
});

it('the start policy is the reference: its KL is 0 while the final policy\'s is positive', async () => {
  const tok = new ByteTokenizer();
  const cfg = resolveRunConfig('quick', { seed: 6 });
  const rng = new Rng(6);
  const policy = GptModel.create(cfg.policyModel, rng);
  const reward = new RewardModel(GptModel.create(cfg.reward.model, rng), cfg.reward.model, fitScoreNormalization([0, 1]));
  try {
    // Move every adapter weight away from its start, so that the final policy differs from the reference.
    for (const v of policy.trainableVariables('lora')) v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.5, 'float32', 3)));
    const { report } = await evaluatePolicies({
      policy,
      reward,
      tokenizer: tok,
      prompts: ['Q1: ', 'Q2: ', 'Q3: '],
      generation: { ...cfg.ppo.generation, maxNewTokens: 8, minNewTokens: 4 },
      blockSize: cfg.policyModel.blockSize,
      samplesPerPrompt: 4,
      maxPrompts: 10,
      seed: 2,
    });
    expect(report.start.klToReference).toEqual({ mean: 0, lo: 0, hi: 0 });
    expect(report.final.klToReference.mean).toBeGreaterThan(0);
  } finally {
    policy.dispose();
    reward.dispose();
  }
});

describe('the verdict', () => {
  const side = (empty: number, length: number) => ({ emptyFraction: empty, responseLength: { mean: length, lo: length, hi: length } });
  it('never calls a policy of empty or collapsed replies improved, whatever the reward model says', () => {
    const bigGain = { mean: 2, lo: 1.5, hi: 2.5 };
    expect(notImprovedReason(side(0, 60), side(0.9, 1), bigGain)).toMatch(/90 % of the final policy's replies are empty/);
    expect(notImprovedReason(side(0, 60), side(0, 20), bigGain)).toMatch(/under half the start policy's 60.0/);
    expect(notImprovedReason(side(0, 60), side(0, 55), bigGain)).toBeNull();
    expect(notImprovedReason(side(0, 60), side(0, 55), { mean: 0.1, lo: -0.01, hi: 0.2 })).toMatch(/not above 0/);
  });
});
