/**
 * End-to-end learning check on the realistic support-reply task (ml/tasks/support-replies.ts),
 * whose TRUE score is known, one seed per test file (seed-11/12/13.test.ts) so that jest runs
 * them side by side; EACH seed must pass (issue 11):
 * - the reward model's Pearson against the true score on fresh rows ≥ 0.9;
 * - the final policy's mean true score on held-out prompts above the start (SFT) policy's by at
 *   least MIN_TRUE_GAIN;
 * - the mean KL over the last quarter of updates ≤ 1.5 × target;
 * - ≥ 80 % of the final policy's sampled replies made of the task's phrases (coverage ≥ 0.9);
 * - the final policy's mean reply length within ±30 % of the start policy's.
 * The run goes through the same pieces and config as a run of the product: the `quick` preset
 * made to fit the rows (spec/data-aware-config: BPE tokenizer trained on the training split,
 * lengths from the data), a reward model with synthesised negatives and the LM loss, SFT to the
 * validation plateau, PPO with min_new_tokens and approxkl early stopping, then ml/evaluation's
 * phase, each phase on its own random stream as the activities have. Per-seed numbers are printed.
 *
 * Measured (native, 2 cores shared with other jobs): ~590 s of CPU time a seed, ~70 % of it the
 * reward model; the numbers are in docs/metrics.md § "Learning on the support task".
 */
import { MetricKeys, type UpdateMetrics } from '../../../common/names';
import { initBackend } from '../../../ml/backend';
import { resolveRunConfig, type PresetName, type RunConfig } from '../../../spec/run-config';
import { dataAwareConfig } from '../../../spec/data-aware-config';
import type { DataLengths } from '../../../spec/data-lengths';
import type { FeedbackExample } from '../../../spec/train-val-split';
import { runTokenizer } from '../../../ml/run-tokenizer';
import { evaluatePolicies, type EvaluationReport } from '../../../ml/evaluation';
import { GptModel } from '../../../ml/model';
import { PpoTrainer } from '../../../ml/ppo-trainer';
import { trainRewardModel } from '../../../ml/reward-model';
import { Rng } from '../../../ml/rng';
import { trainSft } from '../../../ml/sft';
import { mean, pearson } from '../../../ml/stats';
import { makeSupportFeedback, phraseCoverage, supportPrompt, trueScore } from '../../../ml/tasks/support-replies';
import type { Tokenizer } from '../../../ml/tokenizer';

const TRAIN_IDS = 80; // prompt ids 0..79 in feedback; 80..99 held out
/** Required rise of the mean true score (range −1..1) from the start to the final policy. */
const MIN_TRUE_GAIN = 0.05;
const MAX_KL_OVER_TARGET = 1.5;
const MIN_READABLE = 0.8;
const MAX_LENGTH_CHANGE = 0.3;


const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
/**
 * Rated rows per seed. The reward model's r(true) is data-limited: with 1000 rows (800 to train on)
 * it plateaued at 0.88 on seeds 12 and 13 whatever the epoch picked, weight decay or dropout; with
 * 1500 it reaches 0.92-0.94 (docs/metrics.md § "Learning on the support task").
 */
const ROWS = env('SUPPORT_ROWS', 1500);
/**
 * Samples per held-out prompt from each policy (20 prompts). At 4 (80 replies) the true-score gain
 * had a standard error near the 0.05 it is tested against: seed 13's same two policies (1000 rows)
 * measured +0.045 with 4 and +0.164 with 16. The evaluation at 16 took ~30 s a seed on shared cores.
 */
const SAMPLES_PER_PROMPT = env('SUPPORT_SAMPLES', 16);
const PRESET = (process.env.SUPPORT_PRESET ?? 'quick') as PresetName;

/**
 * The run config exactly as the product makes it for these rows (spec/data-aware-config: the preset,
 * the BPE tokenizer trained on the training split, the lengths from the data), and the split.
 */
function supportRun(seed: number, rows: FeedbackExample[]): { cfg: RunConfig; tok: Tokenizer; train: FeedbackExample[]; val: FeedbackExample[]; lengths: DataLengths | null } {
  const { config, lengths, split } = dataAwareConfig(resolveRunConfig(PRESET, { seed }), rows);
  return { cfg: config, tok: runTokenizer(config), train: split.train, val: split.val, lengths };
}

interface SeedResult {
  seed: number;
  rmPearsonTrue: number;
  trueStart: number;
  trueFinal: number;
  klLastQuarter: number;
  klTarget: number;
  readable: number;
  readableStart: number;
  lengthRatio: number;
  report: EvaluationReport;
}

/** Phase lines on stderr as they happen (jest holds console output until the file ends). */
const t0 = Date.now();
const phase = (seed: number, what: string) => process.stderr.write(`[support-learning] seed ${seed} ${what} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);

async function runSeed(seed: number): Promise<SeedResult> {
  const rng = new Rng(seed);
  const rows = makeSupportFeedback(ROWS, rng, { promptIds: TRAIN_IDS });
  const { cfg, tok, train, val, lengths } = supportRun(seed, rows);
  phase(seed, `${PRESET}, ${rows.length} rows, vocabulary ${tok.vocabSize}, lengths ${JSON.stringify(lengths)}; reward model`);
  // One stream per phase, as a run's activities have (activities/training.ts SeedOffsets).
  const rm = await trainRewardModel({ train, val, config: cfg, tokenizer: tok, rng: new Rng(seed + 1) });
  phase(seed, `reward model: ${rm.metrics.epochsRun} epochs, held-out val Pearson ${rm.metrics.valPearson.toFixed(3)}; SFT`);
  const fresh = makeSupportFeedback(300, new Rng(seed + 100));
  const rmPearsonTrue = pearson(rm.model.score(tok, fresh), fresh.map((r) => trueScore(r.prompt, r.response)));

  const sftRng = new Rng(seed + 2);
  const policy = GptModel.create(cfg.policyModel, sftRng);
  const history: UpdateMetrics[] = [];
  try {
    const sftResult = await trainSft({ policy, rows: train, val, config: cfg, tokenizer: tok, rng: sftRng });
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
      samplesPerPrompt: SAMPLES_PER_PROMPT,
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
      readableStart: samples.start.filter((t) => phraseCoverage(t) >= 0.9).length / samples.start.length,
      lengthRatio: report.final.responseLength.mean / report.start.responseLength.mean,
      report,
    };
    const per = (k: string) => history.map((m) => (m as Record<string, number>)[k].toFixed(2)).join(' ');
    console.info(
      `[support-learning] seed ${seed}: RM r(true) ${rmPearsonTrue.toFixed(3)}; true score start ${result.trueStart.toFixed(3)} → final ${result.trueFinal.toFixed(3)} ` +
        `(gain ${(result.trueFinal - result.trueStart).toFixed(3)}, need ≥ ${MIN_TRUE_GAIN}); RM ${report.start.rewardMean.mean.toFixed(3)} → ${report.final.rewardMean.mean.toFixed(3)}, ` +
        `win ${report.winRate.mean.toFixed(2)} [${report.winRate.lo.toFixed(2)}, ${report.winRate.hi.toFixed(2)}], verdict ${report.verdict}; ` +
        `KL last quarter ${result.klLastQuarter.toFixed(2)} (target ${cfg.ppo.klTarget}); readable ${(100 * result.readableStart).toFixed(0)} % → ${(100 * result.readable).toFixed(0)} %; length ratio ${result.lengthRatio.toFixed(2)}; ` +
        `lengths ${JSON.stringify(lengths)}\n  KL per update: ${per(MetricKeys.klObjective)}\n  epochs run: ${per(MetricKeys.epochsRun)}\n` +
        `  pair: ${JSON.stringify(report.pairs[0])}\n` +
        `  final samples below 0.9 phrase coverage: ${JSON.stringify(samples.final.filter((t) => phraseCoverage(t) < 0.9).slice(0, 4))}`,
    );
    return result;
  } finally {
    policy.dispose();
    rm.model.dispose();
  }
}

/**
 * Runs by default (issue 11's must-show: every seed passes in CI, its numbers in the output); the
 * per-seed numbers are in docs/metrics.md § "Learning on the support task". Opt-out:
 * RLHF_SKIP_SUPPORT_LEARNING=1 (a seed takes minutes: native backend advised; scripts/test.sh
 * leaves these files out of its WASM pass).
 */
function runsHere(): boolean {
  return process.env.RLHF_SKIP_SUPPORT_LEARNING !== '1';
}

/** The test of one seed: every condition above, with the seed's numbers in the output. */
export function describeSupportLearning(seed: number): void {
  if (!runsHere()) {
    describe.skip(`RLHF learns the support-reply task (seed ${seed}; skipped: RLHF_SKIP_SUPPORT_LEARNING=1)`, () => it('is skipped', () => undefined));
    return;
  }
  describe(`RLHF learns the support-reply task (seed ${seed})`, () => {
    let r: SeedResult;
    beforeAll(async () => {
      await initBackend({ log: () => undefined });
      r = await runSeed(seed);
    }, 1_800_000);

    it('reward model: Pearson with the true score ≥ 0.9 on fresh rows', () => expect(r.rmPearsonTrue).toBeGreaterThanOrEqual(0.9));
    it(`true score of the final policy above the start's by ≥ ${MIN_TRUE_GAIN} on held-out prompts`, () => expect(r.trueFinal - r.trueStart).toBeGreaterThanOrEqual(MIN_TRUE_GAIN));
    it(`KL over the last quarter of updates ≤ ${MAX_KL_OVER_TARGET} × target`, () => expect(r.klLastQuarter).toBeLessThanOrEqual(MAX_KL_OVER_TARGET * r.klTarget));
    it(`≥ ${100 * MIN_READABLE} % of the final replies made of the task's phrases`, () => expect(r.readable).toBeGreaterThanOrEqual(MIN_READABLE));
    it(`mean reply length within ±${100 * MAX_LENGTH_CHANGE} % of the start policy's`, () => expect(Math.abs(r.lengthRatio - 1)).toBeLessThanOrEqual(MAX_LENGTH_CHANGE));
  });
}
