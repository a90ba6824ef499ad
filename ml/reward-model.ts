/**
 * Reward model: the GPT trunk with its value head used as a scalar head, read at the LAST
 * non-pad token of `[BOS] prompt response [EOS]` (Ouyang et al. 2022, InstructGPT §3.5;
 * Ziegler et al. 2019). Unlike InstructGPT it regresses on scalar human scores: MSE to the
 * score normalised to [−1, 1], plus an optional pairwise Bradley-Terry term on same-prompt
 * pairs (Bradley & Terry 1952; InstructGPT eq. 1). The normalisation is saved with the
 * model so predictions can be reported on the users' own scale.
 *
 * The trunk is either freshly initialised from the config, or a given one (a Hugging Face
 * base loaded with LoRA adapters, issue 7): then, with `trainable: 'lora'`, only the adapters
 * and the scalar head train and the base stays bit-identical (Hu et al. 2021, LoRA §4.2).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { tf } from './tf';
import { ConfigError, type ModelConfig, type RunConfig } from '../spec/run-config';
import { Rng } from './rng';
import { GptModel } from './model';
import type { TrainableSelection } from './model';
import { ByteTokenizer, type Tokenizer } from './tokenizer';
import { BpeTokenizer } from './hf/bpe-tokenizer';
import { hfTokenizerFiles, readBpeTokenizer } from './hf/tokenizer-files';
import { AdamW, learningRateAt } from './optimizer';
import { mean, mse, mae, pearson, spearman } from './stats';
import { fitScoreNormalization, normalize, denormalize, type ScoreNormalization } from './score-normalization';
import { writeCheckpoint, readCheckpoint } from './checkpoint';
import { maskedTokenCrossEntropy } from './sft';
import { encodeExample, rightPadBatch } from './dataset';
import { type FeedbackExample } from '../spec/train-val-split';
import { EarlyStopping, gradientStep, shuffledBatches, stepsForEpochs } from './training-loop';
import { yieldToEventLoop } from './event-loop';
import { synthesiseNegatives } from './reward-negatives';

/** A (prompt, response) pair to score. */
export interface PromptResponse {
  prompt: string;
  response: string;
}

/** Indices of two rows with the same prompt where `winner` was scored strictly higher. */
export interface PreferencePair {
  winner: number;
  loser: number;
}

/**
 * Validation metrics of a trained reward model (MSE/MAE on both scales). The validation rows are
 * split in two (`splitSelectionTest`): the first part picks the best epoch (early stopping), the
 * `val*` figures are measured on the other part only, which did not pick the weights, so the
 * quality gate's Pearson is not optimistically biased by the selection (issue 11).
 */
export interface RewardMetrics {
  /** MSE between prediction and normalised score. */
  valMse: number;
  /** MAE between prediction and normalised score. */
  valMae: number;
  /** MSE on the users' raw score scale (prediction denormalised). */
  valMseRaw: number;
  valMaeRaw: number;
  /** Pearson correlation of prediction and observed score (scale-free). */
  valPearson: number;
  valSpearman: number;
  /** Mean training loss of the best epoch. */
  trainLoss: number;
  /** Validation objective (MSE + weighted Bradley-Terry) of the best epoch. */
  valLoss: number;
  epochsRun: number;
  /** 0-based epoch whose weights were kept. */
  bestEpoch: number;
  /** Training stopped early because `shouldStop()` returned true. */
  stopped: boolean;
  /** Real training rows (synthesised negatives not counted). */
  trainRows: number;
  /** Synthesised negatives added to the training rows (ml/reward-negatives.ts). */
  syntheticNegativeRows: number;
  /** Validation rows that scored the `val*` figures (the part that did not pick the epoch). */
  valRows: number;
  /** Validation rows that picked the best epoch. */
  selectionRows: number;
  /** Non-pad tokens through training steps per second of training wall time (validation passes included). */
  tokensPerSecond: number;
  trainSeconds: number;
}

export interface RewardEpochProgress {
  /** 0-based epoch just finished. */
  epoch: number;
  epochs: number;
  trainLoss: number;
  valLoss: number;
  valPearson: number;
  bestEpoch: number;
}

export interface TrainRewardModelOptions {
  train: FeedbackExample[];
  val: FeedbackExample[];
  config: RunConfig;
  tokenizer: Tokenizer;
  /** Seeds the weight init (when there is no `initialTrunk`) and the batch order. */
  rng: Rng;
  /**
   * Start from this trunk instead of a fresh init (e.g. a Hugging Face base from
   * ml/hf/load with LoRA adapters); its value head is the scalar head. Its config must equal
   * `config.reward.model`. The returned model owns it; if training throws, it is disposed.
   */
  initialTrunk?: GptModel;
  /** Awaited once per epoch (the activity heartbeats from it). */
  onProgress?: (p: RewardEpochProgress) => void | Promise<void>;
  /** Checked between batches; true stops training and returns the best weights so far. */
  shouldStop?: () => boolean;
}

export interface TrainRewardModelResult {
  model: RewardModel;
  metrics: RewardMetrics;
  normalization: ScoreNormalization;
}

/** Rows per forward pass when scoring (memory bound only; the result does not depend on it). */
const SCORE_CHUNK = 64;

/**
 * Per-row reward = value-head output at each row's last non-pad token.
 * Rows are right-padded, so that index is sum(mask) − 1.
 */
export function lastTokenRewards(values: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const T = values.shape[1];
    const lastIdx = tf.cast(tf.sub(tf.sum(mask, 1), 1), 'int32'); // [B]
    // oneHot's dtype argument is ignored by the WASM kernel (int bits come back as float32),
    // so build it as int32 and cast.
    const pick = tf.cast(tf.oneHot(lastIdx, T), 'float32'); // [B, T]
    return tf.sum(tf.mul(values, pick), 1) as tf.Tensor1D; // [B]
  });
}

/**
 * Same-prompt pairs with strictly different scores, winner first. Rows with equal scores
 * give no preference and are skipped.
 */
export function samePromptPairs(rows: readonly { prompt: string; score: number }[]): PreferencePair[] {
  const byPrompt = new Map<string, number[]>();
  rows.forEach((r, i) => {
    const group = byPrompt.get(r.prompt);
    if (group) group.push(i);
    else byPrompt.set(r.prompt, [i]);
  });
  const pairs: PreferencePair[] = [];
  for (const group of byPrompt.values()) {
    for (let a = 0; a < group.length; a++) {
      for (let b = a + 1; b < group.length; b++) {
        const i = group[a];
        const j = group[b];
        if (rows[i].score > rows[j].score) pairs.push({ winner: i, loser: j });
        else if (rows[j].score > rows[i].score) pairs.push({ winner: j, loser: i });
      }
    }
  }
  return pairs;
}

/**
 * Mini-batches for the pairwise loss: same-prompt rows are kept next to each other, so a
 * batch holds whole prompt groups (where they fit) and with them the pairs. The group order
 * and the order inside each group are seeded-random; every row appears once per epoch.
 * With random batches, a batch of 16 out of N rows over P prompts holds almost no pairs.
 */
export function promptGroupedBatches(prompts: readonly string[], batchSize: number, rng: Rng): number[][] {
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const groups = new Map<string, number[]>();
  prompts.forEach((p, i) => {
    const group = groups.get(p);
    if (group) group.push(i);
    else groups.set(p, [i]);
  });
  const order = rng.shuffle([...groups.values()]).flatMap((group) => rng.shuffle(group));
  const batches: number[][] = [];
  for (let start = 0; start < order.length; start += batchSize) batches.push(order.slice(start, start + batchSize));
  return batches;
}

/**
 * Mean Bradley-Terry loss −log σ(r_winner − r_loser) over `pairs` (InstructGPT eq. 1),
 * written as softplus(−(r_w − r_l)) for stability. Zero when there are no pairs.
 */
export function bradleyTerryLoss(rewards: tf.Tensor1D, pairs: readonly PreferencePair[]): tf.Scalar {
  return tf.tidy(() => {
    if (pairs.length === 0) return tf.scalar(0);
    // r_w − r_l as a signed selection matrix times r, not tf.gather: gather's gradient
    // needs UnsortedSegmentSum, which the WASM backend lacks (see layers.ts).
    const B = rewards.shape[0];
    const select = new Float32Array(pairs.length * B);
    pairs.forEach((p, k) => {
      select[k * B + p.winner] += 1;
      select[k * B + p.loser] -= 1;
    });
    const margin = tf.sum(tf.mul(tf.tensor2d(select, [pairs.length, B]), tf.expandDims(rewards, 0)), 1); // [P]
    return tf.mean(tf.softplus(tf.neg(margin))) as tf.Scalar;
  });
}

/** MSE to the normalised targets plus `pairwiseWeight` × Bradley-Terry on the given pairs. */
export function rewardObjective(
  rewards: tf.Tensor1D,
  targets: tf.Tensor1D,
  pairs: readonly PreferencePair[],
  pairwiseWeight: number,
): tf.Scalar {
  return tf.tidy(() => {
    const regression = tf.mean(tf.squaredDifference(rewards, targets)) as tf.Scalar; // []
    if (pairwiseWeight === 0 || pairs.length === 0) return regression;
    return tf.add(regression, tf.mul(pairwiseWeight, bradleyTerryLoss(rewards, pairs))) as tf.Scalar;
  });
}

export class RewardModel {
  constructor(
    readonly trunk: GptModel,
    readonly modelConfig: ModelConfig,
    readonly normalization: ScoreNormalization,
  ) {}

  /**
   * Rewards [B] of already-encoded sequences (`[BOS] prompt response [EOS]` ids). Caller disposes.
   * `trainable`: the variables a gradient closure differentiates (GptModel ForwardOptions; default all).
   */
  rewardsOf(ids: tf.Tensor2D, mask: tf.Tensor2D, trainable?: TrainableSelection): tf.Tensor1D {
    return tf.tidy(() => {
      const out = this.trunk.forward(ids, mask, { trainable });
      return lastTokenRewards(out.values as tf.Tensor2D, mask);
    });
  }

  /** Scores of encoded sequences, on the normalised scale. */
  scoreSequences(seqs: readonly number[][], padId: number): number[] {
    const scores: number[] = [];
    for (let start = 0; start < seqs.length; start += SCORE_CHUNK) {
      const chunk = seqs.slice(start, start + SCORE_CHUNK);
      const r = tf.tidy(() => {
        const { ids, mask } = rightPadBatch(chunk, padId);
        return this.rewardsOf(ids as tf.Tensor2D, mask as tf.Tensor2D);
      });
      scores.push(...r.dataSync());
      r.dispose();
    }
    return scores;
  }

  /** Scores on the normalised scale (≈ [−1, 1]). */
  score(tok: Tokenizer, pairs: readonly PromptResponse[]): number[] {
    const seqs = pairs.map((p) => encodeExample(tok, p, this.modelConfig.blockSize).ids);
    return this.scoreSequences(seqs, tok.padId);
  }

  /** Scores mapped back to the users' raw scale. */
  scoreRaw(tok: Tokenizer, pairs: readonly PromptResponse[]): number[] {
    return this.score(tok, pairs).map((s) => denormalize(this.normalization, s));
  }

  dispose(): void {
    this.trunk.dispose();
  }
}

/** Encoded rows: token ids and the normalised target of each. */
interface EncodedRows {
  seqs: number[][];
  targets: number[];
  rows: FeedbackExample[];
  /** 1 for a real row, 0 for a synthesised negative (the language-model loss skips those: they are not text). */
  real: number[];
}

function encodeRows(tok: Tokenizer, rows: FeedbackExample[], blockSize: number, norm: ScoreNormalization, realRows = rows.length): EncodedRows {
  return {
    seqs: rows.map((r) => encodeExample(tok, r, blockSize).ids),
    targets: rows.map((r) => normalize(norm, r.score)),
    rows,
    real: rows.map((_, i) => (i < realRows ? 1 : 0)),
  };
}

/**
 * Mean next-token cross-entropy over every non-pad token after the first, of the rows where
 * `real` is 1: prompt and response both, since the trunk is to model the text the head reads.
 */
export function sequenceLanguageModelLoss(logits: tf.Tensor3D, ids: tf.Tensor2D, mask: tf.Tensor2D, real: readonly number[]): tf.Scalar {
  return tf.tidy(() => {
    const [B, T, V] = logits.shape;
    const predicting = tf.slice(logits, [0, 0, 0], [B, T - 1, V]) as tf.Tensor3D; // [B, T-1, V]
    const labels = tf.slice(ids, [0, 1], [B, T - 1]) as tf.Tensor2D; // [B, T-1]
    const rowMask = tf.expandDims(tf.tensor1d([...real], 'float32'), 1); // [B, 1]
    const labelMask = tf.mul(tf.cast(tf.slice(mask, [0, 1], [B, T - 1]), 'float32'), rowMask) as tf.Tensor2D; // [B, T-1]
    return maskedTokenCrossEntropy(predicting, labels, labelMask);
  });
}

/** One mini-batch: padded ids/mask, targets and the same-prompt pairs inside it. */
function batchLoss(
  model: RewardModel,
  data: EncodedRows,
  idx: readonly number[],
  padId: number,
  pairwiseWeight: number,
  languageModelWeight: number,
  trainable?: TrainableSelection,
): tf.Scalar {
  const pairs = pairwiseWeight > 0 ? samePromptPairs(idx.map((i) => data.rows[i])) : [];
  const { ids, mask } = rightPadBatch(
    idx.map((i) => data.seqs[i]),
    padId,
  ); // [B, T] each
  const targets = tf.tensor1d(idx.map((i) => data.targets[i])); // [B]
  const real = idx.map((i) => data.real[i]);
  if (languageModelWeight === 0 || !real.some((r) => r === 1)) {
    const rewards = model.rewardsOf(ids as tf.Tensor2D, mask as tf.Tensor2D, trainable); // [B]
    return rewardObjective(rewards, targets, pairs, pairwiseWeight);
  }
  // One forward pass gives both heads' outputs.
  const out = model.trunk.forward(ids as tf.Tensor2D, mask as tf.Tensor2D, { trainable });
  const rewards = lastTokenRewards(out.values as tf.Tensor2D, mask as tf.Tensor2D); // [B]
  const lm = sequenceLanguageModelLoss(out.logits, ids as tf.Tensor2D, mask as tf.Tensor2D, real);
  return tf.add(rewardObjective(rewards, targets, pairs, pairwiseWeight), tf.mul(languageModelWeight, lm)) as tf.Scalar;
}

interface Evaluation {
  loss: number;
  predictions: number[];
}

/**
 * Validation objective over the whole set (pairs across all rows, as at training time within a batch).
 * Scored SCORE_CHUNK rows at a time, as `scoreSequences` chunks them (same numbers), with an
 * event-loop turn after each chunk so the activity keeps heartbeating on a large validation set.
 */
async function evaluate(model: RewardModel, data: EncodedRows, padId: number, pairwiseWeight: number): Promise<Evaluation> {
  const predictions: number[] = [];
  for (let start = 0; start < data.seqs.length; start += SCORE_CHUNK) {
    predictions.push(...model.scoreSequences(data.seqs.slice(start, start + SCORE_CHUNK), padId));
    await yieldToEventLoop();
  }
  const pairs = pairwiseWeight > 0 ? samePromptPairs(data.rows) : [];
  const lossT = tf.tidy(() => rewardObjective(tf.tensor1d(predictions), tf.tensor1d(data.targets), pairs, pairwiseWeight));
  const loss = lossT.dataSync()[0];
  lossT.dispose();
  return { loss, predictions };
}

function tokenCount(data: EncodedRows, idx: readonly number[]): number {
  return idx.reduce((n, i) => n + data.seqs[i].length, 0);
}

/** Two rows is the least a correlation (and a min-max normalisation) can be computed on. */
function checkRowCounts(train: readonly FeedbackExample[], val: readonly FeedbackExample[]): void {
  // Bad data, not a transient fault: ConfigError is mapped to a non-retryable failure upstream.
  if (train.length < 2) throw new ConfigError(`reward model needs at least 2 training rows, got ${train.length}`, 'feedback');
  if (val.length < 2) {
    throw new ConfigError(`reward model needs at least 2 validation rows, got ${val.length}; add feedback or raise valFraction`, 'valFraction');
  }
}

/** Throws ConfigError unless `trunk` has exactly the shape and adapters `reward.model` describes (that is what gets saved). */
function checkInitialTrunk(trunk: GptModel, expected: ModelConfig): void {
  const got = trunk.config;
  const shapeKeys = ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd', 'dropout'] as const;
  const loraKeys = ['rank', 'alpha', 'dropout'] as const;
  if (shapeKeys.some((k) => got[k] !== expected[k]) || loraKeys.some((k) => got.lora[k] !== expected.lora[k])) {
    throw new ConfigError(`the initial reward trunk is ${JSON.stringify(got)} but reward.model is ${JSON.stringify(expected)}`, 'reward.model');
  }
}

/**
 * Copies of the trainable variables' values by name: with a frozen base only the adapters and
 * the head change, so only they are kept for the best epoch (a 124M base is ~500 MB).
 */
function snapshotTrainable(trunk: GptModel, vars: readonly tf.Variable[]): Record<string, Float32Array> {
  const trainable = new Set(vars);
  const out: Record<string, Float32Array> = {};
  for (const { name, variable } of trunk.namedVariables()) {
    if (trainable.has(variable)) out[name] = Float32Array.from(variable.dataSync() as Float32Array);
  }
  return out;
}

/**
 * Trains a reward model on `train` (from `initialTrunk`, or from a fresh init), early-stopping
 * on the validation loss of `val`, and returns the best epoch's weights with validation metrics.
 */
export async function trainRewardModel(opts: TrainRewardModelOptions): Promise<TrainRewardModelResult> {
  const rc = opts.config.reward;
  let model: RewardModel | null = null;
  try {
    checkRowCounts(opts.train, opts.val);
    if (opts.initialTrunk) checkInitialTrunk(opts.initialTrunk, rc.model);
    const normalization = fitScoreNormalization(opts.train.map((r) => r.score));
    model = new RewardModel(opts.initialTrunk ?? GptModel.create(rc.model, opts.rng), rc.model, normalization);
    // Own stream, so the negatives leave the init and batch order of `opts.rng` as they were.
    const negatives = synthesiseNegatives(opts.train, rc.syntheticNegatives ?? 0, new Rng(opts.config.seed + NEGATIVES_SEED_OFFSET));
    const metrics = await fitRewardModel(model, { ...opts, train: [...opts.train, ...negatives] }, opts.train.length);
    return { model, metrics: { ...metrics, trainRows: opts.train.length, syntheticNegativeRows: negatives.length }, normalization };
  } catch (err) {
    if (model !== null) model.dispose();
    else opts.initialTrunk?.dispose();
    throw err;
  }
}

const NEGATIVES_SEED_OFFSET = 7919;

/**
 * Validation rows split into the part that picks the best epoch and the part that measures it:
 * the first half (rounded up) selects, the rest tests. Below 4 rows both are the whole set (a
 * correlation needs 2 rows per part), which the metrics then say through equal row counts.
 */
export function splitSelectionTest<T>(val: readonly T[]): { selection: T[]; test: T[] } {
  if (val.length < 4) return { selection: [...val], test: [...val] };
  const cut = Math.ceil(val.length / 2);
  return { selection: val.slice(0, cut), test: val.slice(cut) };
}

/**
 * The epoch loop: trains `model` in place, restores the best epoch's weights and measures them.
 * The first `realRows` of `opts.train` are real feedback, the rest synthesised negatives.
 */
async function fitRewardModel(model: RewardModel, opts: TrainRewardModelOptions, realRows: number): Promise<RewardMetrics> {
  const { train, config, tokenizer, rng, onProgress, shouldStop } = opts;
  const rc = config.reward;
  const { normalization } = model;
  const { selection, test: val } = splitSelectionTest(opts.val);
  const trainData = encodeRows(tokenizer, train, rc.model.blockSize, normalization, realRows);
  const selectData = encodeRows(tokenizer, selection, rc.model.blockSize, normalization);
  const valData = encodeRows(tokenizer, val, rc.model.blockSize, normalization);

  // 'full': every weight; 'lora': adapters + scalar head (GptModel.trainableVariables).
  const vars = model.trunk.trainableVariables(rc.trainable);
  const optimizer = new AdamW(vars, rc.optim);
  const totalSteps = stepsForEpochs(train.length, rc.batchSize, rc.epochs);
  const stopper = new EarlyStopping(rc.earlyStoppingPatience);

  let best: { weights: Record<string, Float32Array>; trainLoss: number; valLoss: number } | null = null;
  let step = 0;
  let tokens = 0;
  let epochsRun = 0;
  let stopped = false;
  const t0 = performance.now();
  try {
    for (let epoch = 0; epoch < rc.epochs && !stopped; epoch++) {
      const losses: number[] = [];
      const batches =
        rc.pairwiseWeight > 0
          ? promptGroupedBatches(train.map((r) => r.prompt), rc.batchSize, rng)
          : shuffledBatches(train.length, rc.batchSize, rng);
      for (const idx of batches) {
        if (shouldStop?.()) {
          stopped = true;
          break;
        }
        const lr = learningRateAt(step, totalSteps, rc.optim);
        const { loss } = gradientStep({
          vars,
          optimizer,
          // Only `vars` are differentiated: with a frozen base no weight gradients are formed for it.
          lossFn: () => batchLoss(model, trainData, idx, tokenizer.padId, rc.pairwiseWeight, rc.languageModelWeight ?? 0, vars),
          maxGradNorm: rc.optim.maxGradNorm,
          learningRate: lr,
        });
        losses.push(loss);
        tokens += tokenCount(trainData, idx);
        step += 1;
        // One step is synchronous tfjs work; the activity's heartbeat timer runs in between.
        await yieldToEventLoop();
      }
      if (stopped && losses.length === 0) break;
      epochsRun += 1;
      const trainLoss = mean(losses);
      const { loss: valLoss, predictions } = await evaluate(model, selectData, tokenizer.padId, rc.pairwiseWeight);
      const decision = stopper.observe(epoch, valLoss);
      if (decision.improved) best = { weights: snapshotTrainable(model.trunk, vars), trainLoss, valLoss };
      await onProgress?.({
        epoch,
        epochs: rc.epochs,
        trainLoss,
        valLoss,
        valPearson: pearson(predictions, selectData.targets),
        bestEpoch: stopper.bestEpoch,
      });
      if (decision.stop) break;
    }
  } finally {
    optimizer.dispose();
  }
  const trainSeconds = (performance.now() - t0) / 1000;
  if (best !== null) model.trunk.setWeights(best.weights, { allowMissing: true });

  const { loss: valLoss, predictions } = await evaluate(model, valData, tokenizer.padId, rc.pairwiseWeight);
  const rawPredictions = predictions.map((p) => denormalize(normalization, p));
  const rawTargets = val.map((r) => r.score);
  return {
    valMse: mse(predictions, valData.targets),
    valMae: mae(predictions, valData.targets),
    valMseRaw: mse(rawPredictions, rawTargets),
    valMaeRaw: mae(rawPredictions, rawTargets),
    valPearson: pearson(predictions, valData.targets),
    valSpearman: spearman(predictions, valData.targets),
    trainLoss: best?.trainLoss ?? NaN,
    valLoss,
    epochsRun,
    bestEpoch: stopper.bestEpoch,
    stopped,
    trainRows: train.length,
    syntheticNegativeRows: 0,
    valRows: val.length,
    selectionRows: selection.length,
    tokensPerSecond: trainSeconds > 0 ? tokens / trainSeconds : 0,
    trainSeconds,
  };
}

/** File names inside a saved reward-model directory. */
export const RewardModelFiles = {
  weights: 'weights',
  config: 'config.json',
  normalization: 'normalization.json',
  metrics: 'metrics.json',
  /** Directory of a BPE tokenizer's Hugging Face files (as a policy's `bpe/`, ml/policy-export). */
  bpeTokenizer: 'bpe',
} as const;

/** Which tokenizer the reward model reads: ml/tokenizer's byte tokenizer, or the BPE one in `bpe/`. */
type SavedTokenizerKind = 'byte' | 'bpe';

/** What `config.json` of a saved reward model holds. */
interface SavedRewardConfig {
  /** The trunk's shape and adapters (a Hugging Face base's shape when it started from one). */
  model: ModelConfig;
  reward: Omit<RunConfig['reward'], 'model'>;
  /** Absent in directories saved without a tokenizer. */
  tokenizer?: SavedTokenizerKind;
}

export interface SaveRewardModelOptions {
  /** The tokenizer the model was trained with; a BPE one is written to `bpe/` so the directory is self-contained. */
  tokenizer?: Tokenizer;
}

/**
 * Writes `dir/weights/` (checkpoint format, sha256-verified; LoRA adapters kept apart from
 * the base, so a frozen base is saved bit-identical), `config.json`, `normalization.json`,
 * `metrics.json`, and `bpe/` for a BPE tokenizer.
 */
export async function saveRewardModel(
  dir: string,
  model: RewardModel,
  normalization: ScoreNormalization,
  metrics: RewardMetrics,
  config: RunConfig,
  opts: SaveRewardModelOptions = {},
): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const weights = model.trunk.getWeights();
  const tensors = model.trunk.namedVariables().map(({ name, variable }) => ({ name, shape: variable.shape, data: weights[name] }));
  await writeCheckpoint(path.join(dir, RewardModelFiles.weights), { tensors, state: { kind: 'reward-model' } });
  const { model: _configured, ...reward } = config.reward;
  const saved: SavedRewardConfig = { model: model.trunk.config, reward };
  if (opts.tokenizer) saved.tokenizer = opts.tokenizer instanceof BpeTokenizer ? 'bpe' : 'byte';
  const writeJson = (name: string, value: unknown) => fs.writeFile(path.join(dir, name), JSON.stringify(value, null, 2) + '\n');
  await writeJson(RewardModelFiles.config, saved);
  await writeJson(RewardModelFiles.normalization, normalization);
  await writeJson(RewardModelFiles.metrics, metrics);
  if (opts.tokenizer instanceof BpeTokenizer) {
    const bpeDir = path.join(dir, RewardModelFiles.bpeTokenizer);
    await fs.mkdir(bpeDir, { recursive: true });
    for (const [file, content] of Object.entries(hfTokenizerFiles(opts.tokenizer, model.trunk.config.blockSize))) {
      await fs.writeFile(path.join(bpeDir, file), content);
    }
  }
}

export interface LoadedRewardModel {
  model: RewardModel;
  metrics: RewardMetrics;
  /** The tokenizer it was saved with; null when it was saved without one. */
  tokenizer: Tokenizer | null;
}

/** The tokenizer `config.json` names; ConfigError when it is unknown or larger than the model's vocabulary. */
async function savedTokenizer(dir: string, saved: SavedRewardConfig): Promise<Tokenizer | null> {
  if (saved.tokenizer === undefined) return null;
  let tok: Tokenizer;
  if (saved.tokenizer === 'bpe') tok = await readBpeTokenizer(path.join(dir, RewardModelFiles.bpeTokenizer), 'tokenizer.json');
  else if (saved.tokenizer === 'byte') tok = new ByteTokenizer();
  else throw new ConfigError(`${path.join(dir, RewardModelFiles.config)} names an unknown tokenizer '${String(saved.tokenizer)}' (byte or bpe)`, 'tokenizer');
  if (tok.vocabSize > saved.model.vocabSize) {
    throw new ConfigError(`the saved tokenizer has ${tok.vocabSize} ids but the reward model's vocabulary is ${saved.model.vocabSize}`, 'tokenizer');
  }
  return tok;
}

/** Restores a model written by `saveRewardModel`; it scores identically to the saved one. */
export async function loadRewardModel(dir: string): Promise<LoadedRewardModel> {
  const readJson = async <T>(name: string): Promise<T> => JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as T;
  const saved = await readJson<SavedRewardConfig>(RewardModelFiles.config);
  const normalization = await readJson<ScoreNormalization>(RewardModelFiles.normalization);
  const metrics = await readJson<RewardMetrics>(RewardModelFiles.metrics);
  const tokenizer = await savedTokenizer(dir, saved);
  const checkpoint = await readCheckpoint(path.join(dir, RewardModelFiles.weights));
  const weights: Record<string, Float32Array> = {};
  for (const t of checkpoint.tensors) weights[t.name] = t.data;
  // The init seed is irrelevant: every weight is overwritten from the checkpoint.
  const trunk = GptModel.fromWeights(saved.model, weights, new Rng(0));
  return { model: new RewardModel(trunk, saved.model, normalization), metrics, tokenizer };
}
