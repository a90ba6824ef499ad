/**
 * Logit processing for sampling, on one row of logits at a time (plain arrays, no tensors).
 *
 * Order of application follows HuggingFace `generate`: temperature, then top-k, then top-p,
 * then softmax and one draw. Filters never mutate their input; removed tokens get −Infinity
 * so a later softmax gives them probability 0.
 */
import type { Rng } from './rng';

/** One row of logits over the vocabulary, `[V]`. */
export type LogitsRow = Float32Array | Float64Array | readonly number[];

/**
 * Divides logits by the temperature. Temperature 0 means greedy decoding: the result keeps
 * only the arg-max token (first one on ties) and sets every other token to −Infinity, so the
 * usual softmax + draw pipeline picks it with probability 1.
 */
export function applyTemperature(logits: LogitsRow, temperature: number): Float32Array {
  if (!(temperature >= 0) || !Number.isFinite(temperature)) {
    throw new RangeError(`temperature must be a finite number >= 0, got ${temperature}`);
  }
  const out = new Float32Array(logits.length); // [V]
  if (temperature === 0) {
    out.fill(Number.NEGATIVE_INFINITY);
    const best = argmax(logits);
    out[best] = logits[best];
    return out;
  }
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] / temperature;
  return out;
}

/** Index of the largest logit; the first one wins ties. */
export function argmax(logits: LogitsRow): number {
  if (logits.length === 0) throw new RangeError('argmax of an empty row');
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/**
 * Keeps the k largest logits and sets the rest to −Infinity. Every token tied with the k-th
 * largest value is kept too (HF `TopKLogitsWarper`: remove `scores < topk(scores, k)[-1]`).
 * k <= 0 or k >= V disables the filter.
 */
export function topKFilter(logits: LogitsRow, k: number): Float32Array {
  const out = Float32Array.from(logits); // [V]
  if (!Number.isInteger(k)) throw new RangeError(`topK must be an integer, got ${k}`);
  if (k <= 0 || k >= out.length) return out;
  const sortedDesc = Float32Array.from(out).sort().reverse();
  const kth = sortedDesc[k - 1];
  for (let i = 0; i < out.length; i++) if (out[i] < kth) out[i] = Number.NEGATIVE_INFINITY;
  return out;
}

/**
 * Probability mass within this distance of `p` counts as reaching `p`, so that float rounding
 * of a softmax (0.5 + 0.3 computing to 0.7999999) does not pull in one more token.
 */
const TOP_P_TOLERANCE = 1e-6;

/**
 * Nucleus filter (Holtzman et al. 2019, "The Curious Case of Neural Text Degeneration"):
 * keeps the smallest set of most likely tokens whose probability mass is at least p, and
 * sets the rest to −Infinity. The most likely token is always kept. Same set as HF's
 * `TopPLogitsWarper` (drop tokens whose ascending cumulative mass is <= 1 − p). Ties in
 * probability are ranked by token index. p >= 1 disables the filter.
 */
export function topPFilter(logits: LogitsRow, p: number): Float32Array {
  if (!(p > 0) || !(p <= 1)) throw new RangeError(`topP must be in (0, 1], got ${p}`);
  const out = Float32Array.from(logits); // [V]
  if (p >= 1) return out;
  const probs = softmax(out); // [V]
  const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a] || a - b);
  let massBefore = 0;
  let kept = 0;
  for (const idx of order) {
    // A token is kept while the more likely tokens before it have not yet reached p.
    if (kept > 0 && massBefore >= p - TOP_P_TOLERANCE) out[idx] = Number.NEGATIVE_INFINITY;
    else kept++;
    massBefore += probs[idx];
  }
  return out;
}

/**
 * Numerically stable softmax in float64 (subtract the max before exp). −Infinity logits get
 * probability 0; a row with no finite logit is an error, because there is nothing to sample.
 */
export function softmax(logits: LogitsRow): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  if (!Number.isFinite(max)) throw new RangeError('softmax needs at least one finite logit');
  const probs = new Float64Array(logits.length); // [V]
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp(logits[i] - max);
    probs[i] = e;
    sum += e;
  }
  for (let i = 0; i < probs.length; i++) probs[i] /= sum;
  return probs;
}

/**
 * One draw from a categorical distribution by inverse CDF: u ~ U[0, total), return the first
 * index whose cumulative mass exceeds u. Uses exactly one `rng.next()`. Probabilities need
 * not sum to 1 (they are scaled by their total); zero-probability tokens are never drawn.
 */
export function sampleIndex(probs: LogitsRow, rng: Rng): number {
  let total = 0;
  let lastPositive = -1;
  for (let i = 0; i < probs.length; i++) {
    if (!(probs[i] >= 0)) throw new RangeError(`probability ${i} is ${probs[i]}; need a finite value >= 0`);
    if (probs[i] > 0) lastPositive = i;
    total += probs[i];
  }
  if (lastPositive < 0 || !Number.isFinite(total)) throw new RangeError('sampleIndex needs positive, finite total mass');
  const u = rng.next() * total;
  let cumulative = 0;
  for (let i = 0; i < probs.length; i++) {
    cumulative += probs[i];
    if (u < cumulative) return i;
  }
  // Rounding can leave the final cumulative sum a hair below u; the last token with mass wins.
  return lastPositive;
}

/** Sampling knobs for one token (a subset of GenerationConfig). */
export interface TokenSamplingOptions {
  /** 0 = greedy. */
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1 = off. */
  topP: number;
}

/**
 * Picks the next token from one row of logits: temperature, top-k, top-p, softmax, one draw.
 * Greedy decoding (temperature 0) returns the arg-max and draws nothing from the Rng.
 */
export function sampleFromLogits(logits: LogitsRow, opts: TokenSamplingOptions, rng: Rng): number {
  if (opts.temperature === 0) return argmax(logits);
  const scaled = applyTemperature(logits, opts.temperature);
  const filtered = topPFilter(topKFilter(scaled, opts.topK), opts.topP);
  return sampleIndex(softmax(filtered), rng);
}
