/**
 * End-to-end learning check on the synthetic vowel-density task (ml/synthetic-task.ts), whose
 * TRUE score is known: reward model → SFT → PPO must raise the true score of sampled
 * responses on held-out prompts, while the KL to the reference stays near its target.
 *
 * Seed 4242. Feedback rows use prompts Q0..Q79 only; evaluation uses the unseen prompts
 * Q80..Q99, EVAL_SAMPLES samples each, with a fixed sampling seed before and after PPO.
 */
import { MetricKeys, type UpdateMetrics } from '../../common/names';
import { initBackend } from '../../ml/backend';
import { resolveRunConfig, type RunConfig } from '../../ml/config';
import { splitTrainVal, type FeedbackExample } from '../../ml/dataset';
import { GptModel } from '../../ml/model';
import { generateText } from '../../ml/policy-export';
import { PpoTrainer } from '../../ml/ppo-trainer';
import { trainRewardModel, type RewardModel } from '../../ml/reward-model';
import { Rng } from '../../ml/rng';
import { trainSft } from '../../ml/sft';
import { mean, pearson } from '../../ml/stats';
import { makeSyntheticFeedback, trueScore } from '../../ml/synthetic-task';
import { ByteTokenizer } from '../../ml/tokenizer';

const SEED = 4242;
const TRAIN_PROMPTS = 80; // Q0..Q79 in feedback; Q80..Q99 held out
const EVAL_SAMPLES = 12;
/**
 * Required rise of the mean TRUE score (vowel fraction, 0..1) from the SFT policy to the PPO
 * policy: about 3 standard errors of the difference of two 240-sample means (per-sample std
 * ≈ 0.2, so SE ≈ 0.018). Measured on this seed and the wasm backend: 0.497 → 0.553.
 */
const MIN_TRUE_SCORE_GAIN = 0.05;
/** The mean sequence KL over the last updates must stay within this multiple of the target. */
const MAX_KL_OVER_TARGET = 1.5;

const tok = new ByteTokenizer();

/**
 * The quick preset with the PPO settings this task needs (proposed for ml/config's quick preset
 * in the report). Found by sweeping on this task: with lr ≥ 0.02 the LoRA policy sometimes
 * collapses into junk bytes (KL > 30 in one update); with the preset's linear decay the
 * second half of the run barely moves; the value loss shares the LoRA trunk, so vfCoef 0.1
 * lets its gradient noise dominate the policy's.
 */
function learningConfig(): RunConfig {
  const cfg = resolveRunConfig('quick', { seed: SEED });
  cfg.reward.epochs = 12;
  cfg.sft.epochs = 6;
  cfg.ppo = {
    ...cfg.ppo,
    totalUpdates: 100,
    batchSize: 16,
    miniBatchSize: 8,
    ppoEpochs: 4,
    // Constant LR after warm-up, as TRL 0.7 (no scheduler by default).
    optim: { ...cfg.ppo.optim, learningRate: 1e-2, warmupSteps: 4, decay: 'none' },
    vfCoef: 0.01,
    initKlCoef: 0.05,
    klTarget: 2,
    // Responses are 4..16 letters + EOS.
    generation: { maxNewTokens: 18, temperature: 1, topK: 0, topP: 1 },
    missingEosPenalty: null,
  };
  return cfg;
}

const promptNumber = (p: string) => Number(/^Q(\d+):/.exec(p)?.[1]);
const heldOutPrompts = Array.from({ length: 100 - TRAIN_PROMPTS }, (_, i) => `Q${TRAIN_PROMPTS + i}: `);

/** Mean TRUE score of EVAL_SAMPLES sampled responses per held-out prompt (fixed sampling seed). */
function meanTrueScore(policy: GptModel, cfg: RunConfig): number {
  const rng = new Rng(SEED + 1);
  const scores = heldOutPrompts.flatMap((prompt) =>
    Array.from({ length: EVAL_SAMPLES }, () => trueScore(prompt, generateText(policy, tok, prompt, cfg.ppo.generation, rng))),
  );
  return mean(scores);
}

describe(`RLHF learns the synthetic task (seed ${SEED})`, () => {
  const cfg = learningConfig();
  let reward: RewardModel;
  let policy: GptModel;
  let rmPearsonTrue: number;
  let sftScore: number;
  let ppoScore: number;
  let history: UpdateMetrics[];

  beforeAll(async () => {
    await initBackend({ log: () => undefined });
    const rng = new Rng(SEED);
    const rows: FeedbackExample[] = makeSyntheticFeedback(900, rng).filter((r) => promptNumber(r.prompt) < TRAIN_PROMPTS);
    const { train, val } = splitTrainVal(rows, cfg.valFraction, rng);

    const rm = await trainRewardModel({ train, val, config: cfg, tokenizer: tok, rng });
    reward = rm.model;
    rmPearsonTrue = pearson(
      reward.score(tok, val),
      val.map((r) => trueScore(r.prompt, r.response)),
    );

    policy = GptModel.create(cfg.policyModel, rng);
    await trainSft({ policy, rows: train, config: cfg, tokenizer: tok, rng });
    sftScore = meanTrueScore(policy, cfg);

    const trainer = PpoTrainer.create({ config: cfg, policy, reward, tokenizer: tok, prompts: train.map((r) => r.prompt), seed: SEED });
    history = [];
    for (let u = 0; u < cfg.ppo.totalUpdates; u++) history.push(await trainer.step());
    trainer.dispose();
    ppoScore = meanTrueScore(policy, cfg);
    const at = (u: UpdateMetrics) =>
      `score ${u[MetricKeys.scores].toFixed(3)} kl ${u[MetricKeys.klObjective].toFixed(3)} len ${u[MetricKeys.responseLength].toFixed(1)}`;
    console.info(
      `[learning] RM Pearson vs true ${rmPearsonTrue.toFixed(3)}; true score SFT ${sftScore.toFixed(3)} → PPO ${ppoScore.toFixed(3)}; ` +
        `first update ${at(history[0])}; last ${at(history[history.length - 1])}`,
    );
  }, 600_000);

  afterAll(() => {
    reward?.dispose();
    policy?.dispose();
  });

  it('trains a reward model with validation Pearson ≥ 0.85 against the TRUE score', () => {
    expect(rmPearsonTrue).toBeGreaterThanOrEqual(0.85);
  });

  it(`PPO raises the mean TRUE score on held-out prompts by at least ${MIN_TRUE_SCORE_GAIN}`, () => {
    expect(ppoScore - sftScore).toBeGreaterThanOrEqual(MIN_TRUE_SCORE_GAIN);
  });

  it(`keeps the mean KL to the reference ≤ ${MAX_KL_OVER_TARGET} × target over the last quarter of updates`, () => {
    const lastQuarter = history.slice(Math.floor((history.length * 3) / 4));
    expect(mean(lastQuarter.map((m) => m[MetricKeys.klObjective]))).toBeLessThanOrEqual(MAX_KL_OVER_TARGET * cfg.ppo.klTarget);
  });

  it('emits finite metrics for every update', () => {
    for (const m of history) for (const v of Object.values(m)) expect(Number.isFinite(v)).toBe(true);
  });
});
