/**
 * Autoregressive generation with a key/value cache.
 *
 * Prompts are left-padded (pad id, mask 0) so every row's next token is produced at the last
 * column; `prefill` runs the prompts once and returns the first next-token logits and the
 * cache, then each `decodeStep` feeds one token per row. Token choice happens on the CPU,
 * one row at a time, with our seeded Rng (`sampleFromLogits`: temperature, top-k, top-p), so
 * a run is reproducible from the Rng state (resume replays the exact draws) and each row
 * is drawn independently; tfjs `multinomial` offers neither (its own seed, and per-row
 * draws on the cpu backend that this project found unreliable). At batch 16 and V = 259
 * the CPU-side choice costs far less than one decode step.
 *
 * Rng use is part of the contract (resume relies on it): at each step rows are visited in
 * order and every row that is not done draws exactly one `rng.next()`, except with
 * temperature 0 (greedy), which draws nothing.
 *
 * Before a row has `minNewTokens` tokens its EOS logit is −∞ (HF `min_new_tokens`), so no
 * reply is shorter than that; the Rng contract is unchanged.
 *
 * A row that emitted EOS is done: after its EOS it is fed PAD and its response stops growing.
 * The loop ends when every row is done or after `maxNewTokens` tokens. The cache and all
 * intermediate tensors are disposed, also when the model throws.
 *
 * `generate` runs the loop in one go; `generateYielding` runs the same loop (one JS
 * generator, `generationSteps`) but gives the event loop a turn after every model pass, so
 * a worker's heartbeat timer fires during a long rollout. Both make the same draws.
 */
import type { GenerationConfig } from '../spec/run-config';
import { padSequences } from './dataset';
import { ModelInputError } from './errors';
import { sampleFromLogits } from './filtering';
import type { DecodeState, ForwardOptions } from './model';
import { yieldToEventLoop } from './event-loop';
import type { Rng } from './rng';
import { tf, type Tensor1D, type Tensor2D } from './tf';

/** The part of GptModel that generation needs (a fake implements it in unit tests). */
export interface DecodingModel {
  prefill(ids: Tensor2D, mask: Tensor2D, opts?: ForwardOptions): { logits: Tensor2D; state: DecodeState };
  decodeStep(tokens: Tensor1D, state: DecodeState, opts?: ForwardOptions): Tensor2D;
  /** When present, prompts that cannot fit maxNewTokens more tokens are rejected up front. */
  readonly config?: { readonly blockSize: number };
}

export interface GenerateOptions extends GenerationConfig {
  eosId: number;
  padId: number;
  /** Run with the LoRA adapters (default true); false samples from the reference policy. */
  adapters?: boolean;
}

export interface GenerateResult {
  /** Generated ids per row, EOS included when emitted; no padding. */
  responses: number[][];
  /** Whether each row emitted EOS within maxNewTokens. */
  endedWithEos: boolean[];
}

/** Samples up to `opts.maxNewTokens` tokens after each prompt (token ids, BOS included). */
export function generate(model: DecodingModel, promptIds: number[][], opts: GenerateOptions, rng: Rng): GenerateResult {
  const steps = generationSteps(model, promptIds, opts, rng);
  for (;;) {
    const s = steps.next();
    if (s.done) return s.value;
  }
}

/**
 * `generate`, awaiting `pause` (default: one event-loop turn) after the prefill and after
 * every decode step. Same draws and result as `generate` with the same Rng state.
 */
export async function generateYielding(
  model: DecodingModel,
  promptIds: number[][],
  opts: GenerateOptions,
  rng: Rng,
  pause: () => Promise<void> = yieldToEventLoop,
): Promise<GenerateResult> {
  const steps = generationSteps(model, promptIds, opts, rng);
  for (;;) {
    const s = steps.next();
    if (s.done) return s.value;
    try {
      await pause();
    } catch (err) {
      steps.throw(err); // runs the generator's finally (frees the cache), then rethrows
      throw err;
    }
  }
}

/**
 * The generation loop; it yields once per model pass (prefill, then each decode step)
 * before reading that pass's logits. The caller must run it to the end or `throw` into it,
 * or the cache leaks.
 */
function* generationSteps(model: DecodingModel, promptIds: number[][], opts: GenerateOptions, rng: Rng): Generator<void, GenerateResult, undefined> {
  checkRequest(model, promptIds, opts);
  const responses: number[][] = promptIds.map(() => []);
  const endedWithEos: boolean[] = promptIds.map(() => false);
  if (opts.maxNewTokens === 0) return { responses, endedWithEos };

  const forwardOpts: ForwardOptions = { adapters: opts.adapters ?? true };
  const { logits: firstLogits, state } = prefillPrompts(model, promptIds, opts.padId, forwardOpts);
  let logits: Tensor2D | null = firstLogits; // [B, V]
  try {
    for (let step = 0; step < opts.maxNewTokens; step++) {
      yield;
      const rows = logits.dataSync() as Float32Array; // [B * V]
      logits.dispose();
      logits = null;
      const next = chooseNextTokens(rows, responses, endedWithEos, opts, rng); // [B]
      if (endedWithEos.every(Boolean) || step === opts.maxNewTokens - 1) break;
      const tokens = tf.tensor1d(next, 'int32'); // [B]
      try {
        logits = model.decodeStep(tokens, state, forwardOpts); // [B, V]
      } finally {
        tokens.dispose();
      }
    }
  } finally {
    logits?.dispose();
    state.dispose();
  }
  return { responses, endedWithEos };
}

function checkRequest(model: DecodingModel, promptIds: number[][], opts: GenerateOptions): void {
  if (promptIds.length === 0) throw new ModelInputError('generate needs at least one prompt', 'promptIds');
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) {
    throw new ModelInputError(`maxNewTokens must be a non-negative integer, got ${opts.maxNewTokens}`, 'maxNewTokens');
  }
  const minNew = opts.minNewTokens ?? 0;
  if (!Number.isInteger(minNew) || minNew < 0) {
    throw new ModelInputError(`minNewTokens must be a non-negative integer, got ${minNew}`, 'minNewTokens');
  }
  const longest = Math.max(...promptIds.map((p) => p.length));
  if (promptIds.some((p) => p.length === 0)) {
    throw new ModelInputError('every prompt needs at least one token (BOS)', 'promptIds');
  }
  // The last sampled token is never fed back, so positions reach longest + maxNewTokens − 2.
  const blockSize = model.config?.blockSize;
  if (blockSize !== undefined && longest + opts.maxNewTokens - 1 > blockSize) {
    throw new ModelInputError(
      `longest prompt (${longest} tokens) + maxNewTokens (${opts.maxNewTokens}) − 1 exceeds blockSize ${blockSize}; ` +
        'truncate prompts to blockSize − maxNewTokens tokens',
      'promptIds',
    );
  }
}

/** Left-pads the prompts and runs them through the model once. */
function prefillPrompts(
  model: DecodingModel,
  promptIds: number[][],
  padId: number,
  forwardOpts: ForwardOptions,
): { logits: Tensor2D; state: DecodeState } {
  const padded = padSequences(promptIds, padId, 'left');
  const ids = tf.tensor2d(padded.ids, [padded.batch, padded.length], 'int32'); // [B, P]
  const mask = tf.tensor2d(padded.mask, [padded.batch, padded.length], 'float32'); // [B, P]
  try {
    return model.prefill(ids, mask, forwardOpts);
  } finally {
    tf.dispose([ids, mask]);
  }
}

/**
 * Picks one token per row from flat logits [B * V], appends it to the row's response and
 * marks rows that emitted EOS. Done rows get PAD and draw nothing from the Rng.
 */
function chooseNextTokens(
  rows: Float32Array,
  responses: number[][],
  endedWithEos: boolean[],
  opts: GenerateOptions,
  rng: Rng,
): Int32Array {
  const batch = responses.length;
  const vocab = rows.length / batch;
  const next = new Int32Array(batch).fill(opts.padId); // [B]
  const minNew = opts.minNewTokens ?? 0;
  for (let b = 0; b < batch; b++) {
    if (endedWithEos[b]) continue;
    let logits = rows.subarray(b * vocab, (b + 1) * vocab);
    if (responses[b].length < minNew && opts.eosId < vocab) {
      logits = Float32Array.from(logits); // a copy: the backend may share `rows` with the tensor
      logits[opts.eosId] = -Infinity;
    }
    const token = sampleFromLogits(logits, opts, rng);
    responses[b].push(token);
    next[b] = token;
    if (token === opts.eosId) endedWithEos[b] = true;
  }
  return next;
}
