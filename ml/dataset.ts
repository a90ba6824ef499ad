/**
 * Feedback rows as model inputs: the sequence format and batching (the split is spec/train-val-split.ts).
 *
 * Sequence format (one per feedback row): `[BOS] prompt-bytes response-bytes [EOS]`. When it
 * does not fit `blockSize`, the prompt is cut from the LEFT first (its end, next to the
 * response, matters most, as in chat-model truncation); the response is cut from the right
 * only when even an empty prompt leaves no room, and a cut response carries no EOS (it did
 * not end there, so SFT must not learn to stop there).
 *
 * Training batches are right-padded (positions 0..len-1 line up with the unpadded sequence);
 * generation batches are left-padded so every row's next token sits in the last column. The
 * model derives position ids from the mask, so both paddings give the same positions.
 * Tensor helpers return tensors that the caller owns and disposes.
 */
import { ConfigError } from '../spec/run-config';
import type { FeedbackExample } from '../spec/train-val-split';
import { tf, type Tensor2D } from './tf';
import type { Tokenizer } from './tokenizer';

/** One encoded (prompt, response) sequence. */
export interface EncodedExample {
  /** `[BOS] prompt response [EOS]` token ids, at most blockSize long. */
  ids: number[];
  /** Tokens before the response, BOS included: `ids[promptLength]` is the first response token. */
  promptLength: number;
  /** True when the prompt or the response was cut to fit blockSize. */
  truncated: boolean;
}

/** Encodes one example in the sequence format above, truncating as described in the header. */
export function encodeExample(
  tok: Tokenizer,
  ex: Pick<FeedbackExample, 'prompt' | 'response'>,
  blockSize: number,
): EncodedExample {
  if (!Number.isInteger(blockSize) || blockSize < 2) {
    throw new ConfigError(`blockSize must be an integer >= 2 (BOS + one token), got ${blockSize}`, 'blockSize');
  }
  const prompt = tok.encode(ex.prompt);
  const response = tok.encode(ex.response);
  const full = 1 + prompt.length + response.length + 1;
  if (full <= blockSize) {
    return { ids: [tok.bosId, ...prompt, ...response, tok.eosId], promptLength: 1 + prompt.length, truncated: false };
  }
  const roomForPrompt = blockSize - 2 - response.length;
  if (roomForPrompt >= 0) {
    const keptPrompt = roomForPrompt === 0 ? [] : prompt.slice(prompt.length - roomForPrompt);
    return {
      ids: [tok.bosId, ...keptPrompt, ...response, tok.eosId],
      promptLength: 1 + keptPrompt.length,
      truncated: true,
    };
  }
  // Even with no prompt the response overflows: keep its beginning, no EOS.
  return { ids: [tok.bosId, ...response.slice(0, blockSize - 1)], promptLength: 1, truncated: true };
}

/**
 * Prompt-only encoding for generation: `[BOS] prompt-bytes`, the prompt cut from the left so
 * the result is at most maxLen tokens (BOS always kept).
 */
export function encodePrompt(tok: Tokenizer, prompt: string, maxLen: number): number[] {
  if (!Number.isInteger(maxLen) || maxLen < 1) {
    throw new ConfigError(`maxLen must be a positive integer, got ${maxLen}`, 'maxLen');
  }
  const ids = tok.encode(prompt);
  const kept = maxLen - 1 === 0 ? [] : ids.slice(Math.max(0, ids.length - (maxLen - 1)));
  return [tok.bosId, ...kept];
}

/** Padded ids and mask as flat row-major arrays, before they become tensors. */
export interface PaddedArrays {
  /** [B * T] token ids, pad where mask is 0. */
  ids: Int32Array;
  /** [B * T] 1 for real tokens, 0 for padding. */
  mask: Float32Array;
  batch: number;
  length: number;
  /** Column where each row's first real token sits (0 for right padding). */
  offsets: number[];
}

/**
 * Pads sequences to the longest one, on the right (training) or the left (generation).
 * Throws on an empty batch or an empty sequence: neither has a meaningful mask.
 */
export function padSequences(seqs: readonly (readonly number[])[], padId: number, side: 'left' | 'right'): PaddedArrays {
  if (seqs.length === 0) throw new RangeError('cannot pad an empty batch');
  const length = Math.max(...seqs.map((s) => s.length));
  seqs.forEach((s, b) => {
    if (s.length === 0) throw new RangeError(`sequence ${b} is empty`);
  });
  const batch = seqs.length;
  const ids = new Int32Array(batch * length).fill(padId); // [B * T]
  const mask = new Float32Array(batch * length); // [B * T]
  const offsets = seqs.map((s) => (side === 'left' ? length - s.length : 0));
  seqs.forEach((s, b) => {
    const start = b * length + offsets[b];
    ids.set(s, start);
    mask.fill(1, start, start + s.length);
  });
  return { ids, mask, batch, length, offsets };
}

/** A padded id batch as tensors (caller disposes). */
export interface PaddedBatch {
  /** int32 [B, T] */
  ids: Tensor2D;
  /** float32 [B, T], 1 for real tokens. */
  mask: Tensor2D;
}

function toTensors(p: PaddedArrays): PaddedBatch {
  return {
    ids: tf.tensor2d(p.ids, [p.batch, p.length], 'int32'), // [B, T]
    mask: tf.tensor2d(p.mask, [p.batch, p.length], 'float32'), // [B, T]
  };
}

/** Right-pads sequences into `ids` int32 [B, T] and `mask` float32 [B, T]. */
export function rightPadBatch(seqs: readonly (readonly number[])[], padId: number): PaddedBatch {
  return toTensors(padSequences(seqs, padId, 'right'));
}

/** Left-pads token-id prompts into `ids` int32 [B, T] and `mask` float32 [B, T]. */
export function leftPadIds(seqs: readonly (readonly number[])[], padId: number): PaddedBatch {
  return toTensors(padSequences(seqs, padId, 'left'));
}

/** Encodes prompts with `encodePrompt` (at most maxLen tokens each) and left-pads them. */
export function leftPadPrompts(tok: Tokenizer, prompts: readonly string[], maxLen: number): PaddedBatch {
  return leftPadIds(
    prompts.map((p) => encodePrompt(tok, p, maxLen)),
    tok.padId,
  );
}

/** A right-padded training batch with the per-token masks SFT and the reward model need. */
export interface TrainingBatch extends PaddedBatch {
  /**
   * float32 [B, T], 1 on response tokens (EOS included), 0 on BOS, prompt and padding. The
   * logit at t−1 predicts token t, so a next-token loss pairs `logits[:, :-1]` with
   * `labelMask` (= `responseMask[:, 1:]`).
   */
  responseMask: Tensor2D;
  /** float32 [B, T−1]: which next-token targets `ids[:, 1:]` count in the SFT loss. */
  labelMask: Tensor2D;
  /** Real length of each row (its last real token is at `lengths[b] − 1`). */
  lengths: number[];
  promptLengths: number[];
}

/**
 * Right-pads encoded examples and marks their response tokens. Every row needs at least two
 * tokens so that `labelMask` has a column.
 */
export function trainingBatch(examples: readonly EncodedExample[], padId: number): TrainingBatch {
  const padded = padSequences(
    examples.map((e) => e.ids),
    padId,
    'right',
  );
  if (padded.length < 2) throw new RangeError('a training batch needs sequences of at least 2 tokens');
  const { batch, length } = padded;
  const responseMask = new Float32Array(batch * length); // [B * T]
  examples.forEach((e, b) => responseMask.fill(1, b * length + e.promptLength, b * length + e.ids.length));
  const labelMask = new Float32Array(batch * (length - 1)); // [B * (T-1)]
  for (let b = 0; b < batch; b++) {
    labelMask.set(responseMask.subarray(b * length + 1, (b + 1) * length), b * (length - 1));
  }
  return {
    ...toTensors(padded),
    responseMask: tf.tensor2d(responseMask, [batch, length], 'float32'), // [B, T]
    labelMask: tf.tensor2d(labelMask, [batch, length - 1], 'float32'), // [B, T-1]
    lengths: examples.map((e) => e.ids.length),
    promptLengths: examples.map((e) => e.promptLength),
  };
}
