/**
 * End-to-end learning check on the realistic support-reply task (ml/tasks/support-replies.ts),
 * whose TRUE score is known, on several seeds, EACH of which must pass (issue 11):
 * - the reward model's Pearson against the true score on held-out rows ≥ 0.9;
 * - the final policy's mean true score on held-out prompts above the start (SFT) policy's by at
 *   least MIN_TRUE_GAIN;
 * - the mean KL over the last quarter of updates ≤ 1.5 × target;
 * - ≥ 80 % of the final policy's sampled replies made of the task's phrases (coverage ≥ 0.9);
 * - the final policy's mean reply length within ±30 % of the start policy's.
 * The run goes through the same pieces as a run of the product: data-derived lengths, SFT to the
 * validation plateau, a reward model with synthesised negatives, PPO with min_new_tokens and
 * approxkl early stopping, then ml/evaluation's phase. Per-seed numbers are printed.
 * LEARNING_SEEDS=1,2 runs other seeds.
 *
 * OPT-IN (RLHF_SUPPORT_LEARNING=1) until measured: the session that wrote it (2 shared cores at
 * load 15-20) could not finish one seed (the reward model alone ran > 12 min), so neither the
 * budget nor MIN_TRUE_GAIN has been measured yet. Measure on the CI machine, state the per-seed
 * numbers here, then make it run by default.
 */
import { MetricKeys, type UpdateMetrics } from '../../common/names';
import { initBackend } from '../../ml/backend';
import { resolveRunConfig, type RunConfig } from '../../ml/config';
import { deriveLengths } from '../../ml/data-lengths';
import { splitTrainVal } from '../../ml/dataset';
import { evaluatePolicies, type EvaluationReport } from '../../ml/evaluation';
import { GptModel } from '../../ml/model';
import { PpoTrainer } from '../../ml/ppo-trainer';
import { trainRewardModel } from '../../ml/reward-model';
import { Rng } from '../../ml/rng';
import { trainSft } from '../../ml/sft';
import { mean, pearson } from '../../ml/stats';
import { makeSupportFeedback, phraseCoverage, supportPrompt, trueScore } from '../../ml/tasks/support-replies';
import { trainBpeTokenizer } from '../../ml/bpe-training';
import type { Tokenizer } from '../../ml/tokenizer';

const SEEDS = (process.env.LEARNING_SEEDS ?? '11,12,13').split(',').map(Number);
const TRAIN_IDS = 80; // prompt ids 0..79 in feedback; 80..99 held out
/** Required rise of the mean true score (range −1..1) from the start to the final policy. */
const MIN_TRUE_GAIN = 0.05;
const MAX_KL_OVER_TARGET = 1.5;
const MIN_READABLE = 0.8;
const MAX_LENGTH_CHANGE = 0.3;


const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);

function supportConfig(seed: number, tok: Tokenizer, lengths: { blockSize: number; maxNewTokens: number; minNewTokens: number }): RunConfig {
  const cfg = resolveRunConfig('quick', { seed });
  const model = { ...cfg.policyModel, vocabSize: tok.vocabSize, blockSize: lengths.blockSize, nHead: 4, nEmbd: 48, lora: { rank: 8, alpha: 16, dropout: 0 } };
  cfg.policyModel = model;
  cfg.reward = { ...cfg.reward, model: { ...model, lora: { rank: 0, alpha: 0, dropout: 0 } }, epochs: 40, earlyStoppingPatience: 8, languageModelWeight: 1, optim: { ...cfg.reward.optim, learningRate: 1e-3 } };
  cfg.sft = { ...cfg.sft, epochs: env('SFT_EPOCHS', 60), earlyStoppingPatience: 3 };
  cfg.ppo = {
    ...cfg.ppo,
    optim: { ...cfg.ppo.optim, learningRate: env('PPO_LR', 1e-3) },
    totalUpdates: 20,
    generation: { ...cfg.ppo.generation, maxNewTokens: lengths.maxNewTokens, minNewTokens: lengths.minNewTokens },
  };
  return cfg;
}

interface SeedResult {
  seed: number;
  rmPearsonTrue: number;
  trueStart: number;
  trueFinal: number;
  klLastQuarter: number;
  klTarget: number;
  readable: number;
  lengthRatio: number;
  report: EvaluationReport;
}

/** Phase lines on stderr as they happen (jest holds console output until the file ends). */
const t0 = Date.now();
const phase = (seed: number, what: string) => process.stderr.write(`[support-learning] seed ${seed} ${what} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);

async function runSeed(seed: number): Promise<SeedResult> {
  const rng = new Rng(seed);
  const rows = makeSupportFeedback(env('SUPPORT_ROWS', 1000), rng, { promptIds: TRAIN_IDS });
  const tok = trainBpeTokenizer(rows.flatMap((r) => [r.prompt, r.response]), { vocabSize: 512 });
  const lengths = deriveLengths(rows, tok);
  const cfg = supportConfig(seed, tok, lengths);
  const { train, val } = splitTrainVal(rows, cfg.valFraction, rng);
  phase(seed, `lengths ${JSON.stringify(lengths)}; reward model`);
  const rm = await trainRewardModel({ train, val, config: cfg, tokenizer: tok, rng });
  phase(seed, `reward model: ${rm.metrics.epochsRun} epochs, held-out val Pearson ${rm.metrics.valPearson.toFixed(3)}; SFT`);
  const fresh = makeSupportFeedback(300, new Rng(seed + 100));
  const rmPearsonTrue = pearson(rm.model.score(tok, fresh), fresh.map((r) => trueScore(r.prompt, r.response)));

  const policy = GptModel.create(cfg.policyModel, rng);
  const history: UpdateMetrics[] = [];
  try {
    const sftResult = await trainSft({ policy, rows: train, val, config: cfg, tokenizer: tok, rng });
    phase(seed, `SFT: ${sftResult.epochsRun} epochs (best ${sftResult.bestEpoch}), val loss ${sftResult.valLoss.toFixed(3)}; PPO`);
    const trainer = PpoTrainer.create({ config: cfg, policy, reward: rm.model, tokenizer: tok, prompts: train.map((r) => r.prompt), seed });
    for (let u = 0; u < cfg.ppo.totalUpdates; u++) history.push(await trainer.step());
    trainer.dispose();
    phase(seed, 'PPO done; evaluation');
    const promptRng = new Rng(seed + 200);
    const heldOut = Array.from({ length: 100 - TRAIN_IDS }, (_, i) => supportPrompt(TRAIN_IDS + i, promptRng));
    const { report, samples } = await evaluatePolicies({
      policy,
      reward: rm.model,
      tokenizer: tok,
      prompts: heldOut,
      generation: cfg.ppo.generation,
      blockSize: cfg.policyModel.blockSize,
      samplesPerPrompt: 4,
      maxPrompts: heldOut.length,
      seed: seed + 300,
    });
    const truth = (texts: string[]) => mean(texts.map((t, i) => trueScore(samples.prompts[i], t)));
    const lastQuarter = history.slice(Math.floor((history.length * 3) / 4));
    const result: SeedResult = {
      seed,
      rmPearsonTrue,
      trueStart: truth(samples.start),
      trueFinal: truth(samples.final),
      klLastQuarter: mean(lastQuarter.map((m) => m[MetricKeys.klObjective])),
      klTarget: cfg.ppo.klTarget,
      readable: samples.final.filter((t) => phraseCoverage(t) >= 0.9).length / samples.final.length,
      lengthRatio: report.final.responseLength.mean / report.start.responseLength.mean,
      report,
    };
    const per = (k: string) => history.map((m) => (m as Record<string, number>)[k].toFixed(2)).join(' ');
    console.info(
      `[support-learning] seed ${seed}: RM r(true) ${rmPearsonTrue.toFixed(3)}; true score start ${result.trueStart.toFixed(3)} → final ${result.trueFinal.toFixed(3)} ` +
        `(gain ${(result.trueFinal - result.trueStart).toFixed(3)}, need ≥ ${MIN_TRUE_GAIN}); RM ${report.start.rewardMean.mean.toFixed(3)} → ${report.final.rewardMean.mean.toFixed(3)}, ` +
        `win ${report.winRate.mean.toFixed(2)} [${report.winRate.lo.toFixed(2)}, ${report.winRate.hi.toFixed(2)}], verdict ${report.verdict}; ` +
        `KL last quarter ${result.klLastQuarter.toFixed(2)} (target ${cfg.ppo.klTarget}); readable ${(100 * result.readable).toFixed(0)} %; length ratio ${result.lengthRatio.toFixed(2)}; ` +
        `lengths ${JSON.stringify(lengths)}\n  KL per update: ${per(MetricKeys.klObjective)}\n  epochs run: ${per(MetricKeys.epochsRun)}\n` +
        `  pair: ${JSON.stringify(report.pairs[0])}`,
    );
    return result;
  } finally {
    policy.dispose();
    rm.model.dispose();
  }
}

const describeIfOptedIn = process.env.RLHF_SUPPORT_LEARNING === '1' ? describe : describe.skip;

describeIfOptedIn('RLHF learns the support-reply task on every seed', () => {
  const results: SeedResult[] = [];
  beforeAll(async () => {
    await initBackend({ log: () => undefined });
    for (const seed of SEEDS) results.push(await runSeed(seed));
  }, 1_800_000);

  it.each(SEEDS.map((s, i) => [s, i]))('seed %d passes every condition', (_seed, i) => {
    const r = results[i];
    expect(r.rmPearsonTrue).toBeGreaterThanOrEqual(0.9);
    expect(r.trueFinal - r.trueStart).toBeGreaterThanOrEqual(MIN_TRUE_GAIN);
    expect(r.klLastQuarter).toBeLessThanOrEqual(MAX_KL_OVER_TARGET * r.klTarget);
    expect(r.readable).toBeGreaterThanOrEqual(MIN_READABLE);
    expect(Math.abs(r.lengthRatio - 1)).toBeLessThanOrEqual(MAX_LENGTH_CHANGE);
  });
});
