/**
 * A generated feedback task whose TRUE score is known, for testing the pipeline end to end.
 *
 * Task ("vowel density"): prompts are `Q<n>: ` with n in 0..99; responses are lowercase
 * ASCII words of 4..16 letters. The true score of a response is the fraction of its
 * characters that are vowels (a, e, i, o, u), in [0, 1]; the prompt does not enter it, so
 * PPO can raise the score on every prompt. A reward model has to count (a mean over the
 * response tokens, which one attention layer can compute), and a byte-level 2-layer model
 * with d = 32..64 and blockSize 64 fits it on CPU in under a minute. Measured with the
 * `quick` preset's reward model (d = 32, WASM, 2 shared cores): 300 rows, 22 s, validation
 * Pearson 0.95 against noisy scores and 0.98 against the true score on fresh rows; on the
 * `scoreNoiseOnly` variant the same run ends at validation Pearson −0.09.
 *
 * Each generated row draws a vowel propensity q ~ U(0, 1) and then every letter is a vowel
 * with probability q (uniform among the 5 vowels, else uniform among the 21 consonants), so
 * true scores spread over the whole range instead of clustering at 5/26.
 *
 * The human score is `scoreMin + (scoreMax − scoreMin) × (trueScore + N(0, noiseStd²))`,
 * unclipped: a noisy rater on a chosen scale. With `scoreNoiseOnly` the score is instead
 * uniform on [scoreMin, scoreMax] and independent of the text (used to test that the reward
 * model quality gate rejects feedback it cannot learn from).
 *
 * Expected baselines (mean true score; checked in test/ml/synthetic-task.test.ts):
 * - generated feedback rows: E[q] = 0.5 (so an SFT-initialised policy starts near 0.5);
 * - uniformly random lowercase letters: 5/26 ≈ 0.192;
 * - an untrained byte-level policy (near-uniform over 256 bytes): about 5/256 ≈ 0.02;
 * - the best policy (all vowels, e.g. "aaaa"): 1.0.
 * Ceiling for a reward model: with noiseStd 0.1 the Pearson correlation between the true
 * and the noisy score is about 0.95 (true-score std ≈ 0.32), so a validation Pearson near
 * 0.9 against noisy scores is close to perfect.
 */
import type { FeedbackExample } from '../spec/train-val-split';
import type { Rng } from './rng';

export const SYNTHETIC_VOWELS = 'aeiou';
export const SYNTHETIC_CONSONANTS = 'bcdfghjklmnpqrstvwxyz';
/** Number of distinct prompts `Q0: ` .. `Q99: `. */
export const SYNTHETIC_PROMPT_COUNT = 100;
export const SYNTHETIC_MIN_RESPONSE_LENGTH = 4;
/** Longest generated response, in characters (= bytes, all ASCII). */
export const SYNTHETIC_MAX_RESPONSE_LENGTH = 16;
/** trueScore always lies in this closed range. */
export const SYNTHETIC_TRUE_SCORE_RANGE = { min: 0, max: 1 } as const;

const VOWEL_SET = new Set(SYNTHETIC_VOWELS);

/**
 * Fraction of the response's characters (Unicode code points, whatever they are) that are
 * lowercase vowels. An empty response scores 0. The prompt is accepted for the contract's
 * signature but does not change the score.
 */
export function trueScore(_prompt: string, response: string): number {
  const chars = Array.from(response);
  if (chars.length === 0) return 0;
  let vowels = 0;
  for (const c of chars) if (VOWEL_SET.has(c)) vowels++;
  return vowels / chars.length;
}

/** One prompt `Q<n>: `, n uniform in 0..99. */
export function syntheticPrompt(rng: Rng): string {
  return `Q${rng.int(SYNTHETIC_PROMPT_COUNT)}: `;
}

/** n prompts drawn independently (repeats are expected: there are 100 distinct ones). */
export function syntheticPrompts(n: number, rng: Rng): string[] {
  return Array.from({ length: n }, () => syntheticPrompt(rng));
}

/** A response with a freshly drawn vowel propensity q ~ U(0, 1), 4..16 letters. */
export function syntheticResponse(rng: Rng): string {
  const span = SYNTHETIC_MAX_RESPONSE_LENGTH - SYNTHETIC_MIN_RESPONSE_LENGTH + 1;
  const length = SYNTHETIC_MIN_RESPONSE_LENGTH + rng.int(span);
  const q = rng.next();
  let out = '';
  for (let i = 0; i < length; i++) {
    out +=
      rng.next() < q
        ? SYNTHETIC_VOWELS[rng.int(SYNTHETIC_VOWELS.length)]
        : SYNTHETIC_CONSONANTS[rng.int(SYNTHETIC_CONSONANTS.length)];
  }
  return out;
}

export interface SyntheticFeedbackOptions {
  /** Std of the Gaussian rater noise, in true-score units. Default 0.1. */
  noiseStd?: number;
  /** Scores independent of the text (uniform on the scale). Default false. */
  scoreNoiseOnly?: boolean;
  /** Score given for a true score of 0. Default 0. */
  scoreMin?: number;
  /** Score given for a true score of 1. Default 1. */
  scoreMax?: number;
}

/** n feedback rows of the vowel-density task, with noisy (or pure-noise) human scores. */
export function makeSyntheticFeedback(n: number, rng: Rng, opts: SyntheticFeedbackOptions = {}): FeedbackExample[] {
  const noiseStd = opts.noiseStd ?? 0.1;
  const scoreMin = opts.scoreMin ?? 0;
  const scoreMax = opts.scoreMax ?? 1;
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  if (!(noiseStd >= 0) || !Number.isFinite(noiseStd)) throw new RangeError(`noiseStd must be finite and >= 0, got ${noiseStd}`);
  if (!(scoreMax > scoreMin)) throw new RangeError(`scoreMax (${scoreMax}) must exceed scoreMin (${scoreMin})`);
  const scale = scoreMax - scoreMin;
  return Array.from({ length: n }, () => {
    const prompt = syntheticPrompt(rng);
    const response = syntheticResponse(rng);
    const unit = opts.scoreNoiseOnly ? rng.next() : trueScore(prompt, response) + noiseStd * rng.normal();
    return { prompt, response, score: scoreMin + scale * unit };
  });
}
