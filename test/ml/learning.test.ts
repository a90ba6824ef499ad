/**
 * End-to-end learning check on the synthetic vowel-density task (ml/synthetic-task.ts), whose
 * TRUE score is known: reward model → SFT → PPO must raise the true score of sampled
 * responses on held-out prompts, while the KL to the reference stays near its target.
 *
 * Seed 4242. Feedback rows use prompts Q0..Q79 only; evaluation uses the unseen prompts
 * Q80..Q99, EVAL_SAMPLES samples each, with a fixed sampling seed before and after PPO.
 *
 * OPT-IN (RLHF_VOWEL_LEARNING=1) since issue 11: test/ml/support-learning.test.ts is the learning
 * test now (a realistic task, 3 seeds, each passing). This one was single-seed, and its pass
 * turned out to hang on the SFT start's random draws: with the reward model and SFT given their
 * own streams (as a run's activities have), the same config moved the true score 0.524 → 0.523
 * (reward model without the LM loss) and 0.524 → 0.556 (with it), where the shared stream had
 * given 0.515 → 0.770; the LM-loss weight alone moved it between 0.56 and 0.80 through the
 * draws it changed. A byte-level vowel-density policy that PPO can move only from some SFT
 * starts says little about the product.
 */
import { MetricKeys, type MetricKey, type UpdateMetrics } from '../../common/names';
import { initBackend } from '../../ml/backend';
import { resolveRunConfig, type RunConfig } from '../../spec/run-config';
import { splitTrainVal, type FeedbackExample } from '../../spec/train-val-split';
import { GptModel } from '../../ml/model';
import { rolloutPromptIds, responseText } from '../../ml/ppo-rollout';
import { PpoTrainer } from '../../ml/ppo-trainer';
import { trainRewardModel, type RewardModel } from '../../ml/reward-model';
import { Rng } from '../../ml/rng';
import { trainSft } from '../../ml/sft';
import { generate } from '../../ml/sampling';
import { mean, pearson, std } from '../../ml/stats';
import { makeSyntheticFeedback, trueScore } from '../../ml/synthetic-task';
import { ByteTokenizer } from '../../ml/tokenizer';

const SEED = 4242;
const TRAIN_PROMPTS = 80; // Q0..Q79 in feedback; Q80..Q99 held out
const EVAL_SAMPLES = 12;
/**
 * Required rise of the mean TRUE score (vowel fraction, 0..1) from the SFT policy to the PPO
 * policy. Measured on this seed (wasm backend, 240 held-out samples each, ± one standard
 * error): SFT 0.520 ± 0.018 → PPO 0.732 ± 0.010 after 40 updates, a rise of 0.21 ± 0.021;
 * mean KL per 10 updates 0.51, 0.78, 0.65, 0.76 (target 2); 43 s alone on 2 shared cores.
 * The bound sits about 3 standard errors below the measurement (before this tuning the same
 * test measured 0.497 → 0.553). Re-measured with issue 11's defaults (reward-model negatives, approxkl
 * early stopping at 0.02, KL horizon from the plan, constant PPO LR, minNewTokens 1), native backend,
 * 2 shared cores at load ~18: RM Pearson vs true 0.962; SFT 0.515 ± 0.020 → PPO 0.791 ± 0.008; mean KL
 * per 10 updates 3.73, 1.91, 2.14, 1.81 (target 2); 415 s.
 */
const MIN_TRUE_SCORE_GAIN = 0.15;
/** The mean sequence KL over the last updates must stay within this multiple of the target. */
const MAX_KL_OVER_TARGET = 1.5;

const tok = new ByteTokenizer();

/**
 * The quick preset as it is (PPO lr 3e-3 with linear decay, vfCoef 0.1), with a longer run and
 * a KL target that short responses reach (β 0.05, target 2; the preset's TRL values 0.2 / 6
 * would make the KL bound below meaningless). SFT keeps the preset's 10 epochs: this test used
 * to cut it to 6, which left the SFT policy ignoring its own prefix (correlation of the vowel
 * fraction of a response's first 4 letters with the rest −0.03, against 0.50 at 10 epochs), so
 * PPO had to shift every token's distribution on its own through the LoRA adapters of the
 * blocks, which reach the tied embedding's vowel direction poorly: 0.497 → 0.553 in 100 updates,
 * and REINFORCE on the same setup did no better. Measured on the 10-epoch policy (40 updates):
 * lr 1e-2 flat 0.71, 1e-2 linear 0.73, 3e-3 flat 0.74, 2e-2 flat 0.71 with a KL spike.
 */
function learningConfig(): RunConfig {
  const cfg = resolveRunConfig('quick', { seed: SEED });
  cfg.reward.epochs = 12;
  // trainSft gets no validation rows here, so no early stopping: the preset's cap would be the plan.
  cfg.sft.epochs = 10;
  cfg.ppo = {
    ...cfg.ppo,
    totalUpdates: 40,
    initKlCoef: 0.05,
    klTarget: 2,
    // Responses are 4..16 letters + EOS.
    generation: { ...cfg.ppo.generation, maxNewTokens: 18 },
  };
  return cfg;
}

const promptNumber = (p: string) => Number(/^Q(\d+):/.exec(p)?.[1]);
const heldOutPrompts = Array.from({ length: 100 - TRAIN_PROMPTS }, (_, i) => `Q${TRAIN_PROMPTS + i}: `);

/** Mean TRUE score of EVAL_SAMPLES sampled responses per held-out prompt (one batch, fixed sampling seed). */
function meanTrueScore(policy: GptModel, cfg: RunConfig): { mean: number; standardError: number } {
  const { generation } = cfg.ppo;
  const prompts = heldOutPrompts.flatMap((p) => Array.from({ length: EVAL_SAMPLES }, () => p));
  const ids = prompts.map((p) => rolloutPromptIds(tok, p, cfg.policyModel.blockSize, generation.maxNewTokens));
  const { responses } = generate(policy, ids, { ...generation, eosId: tok.eosId, padId: tok.padId }, new Rng(SEED + 1));
  const scores = responses.map((r, i) => trueScore(prompts[i], responseText(tok, r)));
  return { mean: mean(scores), standardError: std(scores) / Math.sqrt(scores.length) };
}

const describeIfOptedIn = process.env.RLHF_VOWEL_LEARNING === '1' ? describe : describe.skip;

describeIfOptedIn(`RLHF learns the synthetic task (seed ${SEED})`, () => {
  const cfg = learningConfig();
  let reward: RewardModel;
  let policy: GptModel;
  let rmPearsonTrue: number;
  let sft: { mean: number; standardError: number };
  let ppo: { mean: number; standardError: number };
  let history: UpdateMetrics[];

  beforeAll(async () => {
    await initBackend({ log: () => undefined });
    const rng = new Rng(SEED);
    const rows: FeedbackExample[] = makeSyntheticFeedback(900, rng).filter((r) => promptNumber(r.prompt) < TRAIN_PROMPTS);
    const { train, val } = splitTrainVal(rows, cfg.valFraction, rng);

    // One stream per phase, as a run's activities have (activities/training.ts SeedOffsets): the SFT
    // policy must not depend on how many draws the reward model's training happened to make.
    const rm = await trainRewardModel({ train, val, config: cfg, tokenizer: tok, rng: new Rng(SEED + 1) });
    reward = rm.model;
    rmPearsonTrue = pearson(
      reward.score(tok, val),
      val.map((r) => trueScore(r.prompt, r.response)),
    );

    const sftRng = new Rng(SEED + 2);
    policy = GptModel.create(cfg.policyModel, sftRng);
    await trainSft({ policy, rows: train, config: cfg, tokenizer: tok, rng: sftRng });
    sft = meanTrueScore(policy, cfg);

    const trainer = PpoTrainer.create({ config: cfg, policy, reward, tokenizer: tok, prompts: train.map((r) => r.prompt), seed: SEED });
    history = [];
    for (let u = 0; u < cfg.ppo.totalUpdates; u++) history.push(await trainer.step());
    trainer.dispose();
    ppo = meanTrueScore(policy, cfg);
    const fmt = (x: { mean: number; standardError: number }) => `${x.mean.toFixed(3)} ± ${x.standardError.toFixed(3)}`;
    const perTen = (key: MetricKey) =>
      Array.from({ length: Math.ceil(history.length / 10) }, (_, i) => mean(history.slice(10 * i, 10 * i + 10).map((m) => m[key])).toFixed(2));
    console.info(
      `[learning] RM Pearson vs true ${rmPearsonTrue.toFixed(3)}; true score SFT ${fmt(sft)} → PPO ${fmt(ppo)}; ` +
        `per 10 updates: RM score ${perTen(MetricKeys.scores).join(' ')}, KL ${perTen(MetricKeys.klObjective).join(' ')}`,
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
    expect(ppo.mean - sft.mean).toBeGreaterThanOrEqual(MIN_TRUE_SCORE_GAIN);
  });

  it(`keeps the mean KL to the reference ≤ ${MAX_KL_OVER_TARGET} × target over the last quarter of updates`, () => {
    const lastQuarter = history.slice(Math.floor((history.length * 3) / 4));
    expect(mean(lastQuarter.map((m) => m[MetricKeys.klObjective]))).toBeLessThanOrEqual(MAX_KL_OVER_TARGET * cfg.ppo.klTarget);
  });

  it('emits finite metrics for every update', () => {
    for (const m of history) for (const v of Object.values(m)) expect(Number.isFinite(v)).toBe(true);
  });
});
