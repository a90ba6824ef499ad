/**
 * Supervised warm start (SFT) of the policy before PPO: teacher forcing on
 * `[BOS] prompt response [EOS]`, with next-token cross-entropy counted on the response
 * tokens and the final EOS only (the prompt is context, not a target; InstructGPT §3.5
 * trains SFT the same way). Trains the base weights with the adapters off, so the SFT
 * model is also PPO's reference policy.
 */
import { tf } from './tf';
import type { RunConfig } from '../spec/run-config';
import type { Rng } from './rng';
import type { GptModel } from './model';
import type { Tokenizer } from './tokenizer';
import { AdamW, learningRateAt } from './optimizer';
import { mean } from './stats';
import { fitScoreNormalization, normalize } from './score-normalization';
import { encodeExample, trainingBatch, type EncodedExample } from './dataset';
import { type FeedbackExample } from '../spec/train-val-split';
import { EarlyStopping, gradientStep, shuffledBatches, stepsForEpochs } from './training-loop';
import { yieldToEventLoop } from './event-loop';

/**
 * Mean next-token cross-entropy over the positions where `lossMask` is 1 (a token-level
 * mean over the whole batch, as nanoGPT's `F.cross_entropy(..., ignore_index=-1)`).
 * logits [B, L, V] at position t score `labels[:, t]`.
 */
export function maskedTokenCrossEntropy(logits: tf.Tensor3D, labels: tf.Tensor2D, lossMask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const V = logits.shape[2];
    const logp = tf.logSoftmax(logits); // [B, L, V]
    // int32 oneHot then cast: the WASM OneHot kernel ignores a float32 dtype argument.
    const target = tf.cast(tf.oneHot(labels, V), 'float32'); // [B, L, V]
    const picked = tf.sum(tf.mul(logp, target), 2); // [B, L]
    const total = tf.sum(tf.mul(tf.neg(picked), lossMask)); // []
    return tf.div(total, tf.maximum(tf.sum(lossMask), 1)) as tf.Scalar;
  });
}

/**
 * Response-token loss of the policy (adapters off) on a batch of encoded sequences: the
 * logit at t predicts token t + 1, counted where `labelMask` marks a response token or the
 * final EOS (dataset.ts `trainingBatch`).
 */
export function sftBatchLoss(policy: GptModel, seqs: readonly EncodedExample[], padId: number): tf.Scalar {
  return tf.tidy(() => {
    const batch = trainingBatch(seqs, padId);
    const [B, T] = batch.ids.shape;
    const { logits } = policy.forward(batch.ids, batch.mask, { adapters: false }); // [B, T, V]
    const V = logits.shape[2];
    const predicting = tf.slice(logits, [0, 0, 0], [B, T - 1, V]) as tf.Tensor3D; // [B, T-1, V]
    const labels = tf.slice(batch.ids, [0, 1], [B, T - 1]); // [B, T-1]
    return maskedTokenCrossEntropy(predicting, labels, batch.labelMask);
  });
}

/** Rows kept for SFT: those whose score, normalised over `rows`, is at least `minNormalizedScore`. */
export function selectSftRows(rows: readonly FeedbackExample[], minNormalizedScore: number): FeedbackExample[] {
  if (rows.length === 0) return [];
  const norm = fitScoreNormalization(rows.map((r) => r.score));
  return rows.filter((r) => normalize(norm, r.score) >= minNormalizedScore);
}

/** Response-token loss of the policy over `rows`, in batches of `batchSize` (no gradient). */
export function evaluateSftLoss(policy: GptModel, tokenizer: Tokenizer, rows: readonly FeedbackExample[], batchSize: number): number {
  const seqs = rows.map((r) => encodeExample(tokenizer, r, policy.config.blockSize));
  let weighted = 0;
  let tokens = 0;
  for (let start = 0; start < seqs.length; start += batchSize) {
    const chunk = seqs.slice(start, start + batchSize);
    const n = chunk.reduce((acc, s) => acc + Math.max(0, s.ids.length - s.promptLength), 0);
    const loss = tf.tidy(() => sftBatchLoss(policy, chunk, tokenizer.padId));
    weighted += loss.dataSync()[0] * n;
    tokens += n;
    loss.dispose();
  }
  return tokens > 0 ? weighted / tokens : NaN;
}

export interface SftEpochProgress {
  /** 0-based epoch just finished. */
  epoch: number;
  epochs: number;
  /** Mean batch loss of the epoch. */
  loss: number;
  steps: number;
}

export interface TrainSftOptions {
  policy: GptModel;
  rows: FeedbackExample[];
  config: RunConfig;
  tokenizer: Tokenizer;
  /** Seeds the batch order. */
  rng: Rng;
  /**
   * Validation rows: with `sft.earlyStoppingPatience` > 0 their response loss is measured after
   * every epoch, training stops at its plateau and the best epoch's weights are kept.
   */
  val?: FeedbackExample[];
  /** Awaited once per epoch (the activity heartbeats from it). */
  onProgress?: (p: SftEpochProgress) => void | Promise<void>;
  /** Checked between batches; true ends training after the current step. */
  shouldStop?: () => boolean;
}

export interface SftResult {
  /** Mean batch loss of the last epoch run (NaN when no step ran). */
  finalLoss: number;
  /** Optimizer steps taken. */
  steps: number;
  /** Rows left after the `minNormalizedScore` filter. */
  rowsUsed: number;
  stopped: boolean;
  /** Non-pad tokens processed per second of wall time. */
  tokensPerSecond: number;
  epochsRun: number;
  /** Validation response loss of the kept weights (NaN without validation rows). */
  valLoss: number;
  /** 0-based epoch whose weights were kept (the last one without early stopping). */
  bestEpoch: number;
}

/** The base weights of the policy (what SFT trains; adapters and value head stay as they are). */
function baseVariables(policy: GptModel): tf.Variable[] {
  return policy
    .namedVariables()
    .filter((v) => v.group === 'base')
    .map((v) => v.variable);
}

/** Copies of the base weights by name (what SFT trains), for keeping the best epoch. */
function snapshotBase(policy: GptModel): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const v of policy.namedVariables()) if (v.group === 'base') out[v.name] = Float32Array.from(v.variable.dataSync() as Float32Array);
  return out;
}

/** Teacher-forced fine-tuning of `policy` in place on the kept rows. */
export async function trainSft(opts: TrainSftOptions): Promise<SftResult> {
  const { policy, config, tokenizer, rng, onProgress, shouldStop } = opts;
  const sc = config.sft;
  const rows = selectSftRows(opts.rows, sc.minNormalizedScore);
  const seqs = rows.map((r) => encodeExample(tokenizer, r, policy.config.blockSize));
  const result: SftResult = {
    finalLoss: NaN,
    steps: 0,
    rowsUsed: rows.length,
    stopped: false,
    tokensPerSecond: 0,
    epochsRun: 0,
    valLoss: NaN,
    bestEpoch: -1,
  };
  if (seqs.length === 0) return result;

  const vars = baseVariables(policy);
  const optimizer = new AdamW(vars, sc.optim);
  const totalSteps = stepsForEpochs(seqs.length, sc.batchSize, sc.epochs);
  const val = opts.val ?? [];
  const patience = sc.earlyStoppingPatience ?? 0;
  const stopper = patience > 0 && val.length > 0 ? new EarlyStopping(patience) : null;
  let best: Record<string, Float32Array> | null = null;
  let tokens = 0;
  const t0 = performance.now();
  try {
    for (let epoch = 0; epoch < sc.epochs && !result.stopped; epoch++) {
      const losses: number[] = [];
      for (const idx of shuffledBatches(seqs.length, sc.batchSize, rng)) {
        if (shouldStop?.()) {
          result.stopped = true;
          break;
        }
        const batch = idx.map((i) => seqs[i]);
        const { loss } = gradientStep({
          vars,
          optimizer,
          lossFn: () => sftBatchLoss(policy, batch, tokenizer.padId),
          maxGradNorm: sc.optim.maxGradNorm,
          learningRate: learningRateAt(result.steps, totalSteps, sc.optim),
        });
        losses.push(loss);
        tokens += batch.reduce((n, s) => n + s.ids.length, 0);
        result.steps += 1;
        // One step is synchronous tfjs work; the activity's heartbeat timer runs in between.
        await yieldToEventLoop();
      }
      if (losses.length === 0) break;
      result.finalLoss = mean(losses);
      result.epochsRun += 1;
      result.bestEpoch = epoch;
      await onProgress?.({ epoch, epochs: sc.epochs, loss: result.finalLoss, steps: result.steps });
      if (stopper !== null) {
        const valLoss = evaluateSftLoss(policy, tokenizer, val, sc.batchSize);
        const decision = stopper.observe(epoch, valLoss);
        if (decision.improved) best = snapshotBase(policy);
        result.bestEpoch = stopper.bestEpoch;
        if (decision.stop) break;
      }
    }
  } finally {
    optimizer.dispose();
  }
  if (best !== null) policy.setWeights(best, { allowMissing: true });
  if (val.length > 0) result.valLoss = evaluateSftLoss(policy, tokenizer, val, sc.batchSize);
  const seconds = (performance.now() - t0) / 1000;
  result.tokensPerSecond = seconds > 0 ? tokens / seconds : 0;
  return result;
}
