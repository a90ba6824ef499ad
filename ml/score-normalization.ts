/**
 * Per-agent score normalisation: raw human scores → [−1, 1], as the seed pipeline did
 * (min-max scaling), with the fitted statistics kept as plain JSON so the reward model can
 * map its predictions back to the agent's own scale after a reload.
 *
 *   normalize(x)   = 2 · (x − min) / (max − min) − 1
 *   denormalize(y) = (y + 1) / 2 · (max − min) + min
 *
 * A constant score set (max = min) maps every score to 0 and back to that constant.
 * Scores outside the fitted range extrapolate linearly beyond [−1, 1].
 */
import { mean, std } from './stats';

export const NormalizationMethods = { minmax: 'minmax' } as const;
export type NormalizationMethod = (typeof NormalizationMethods)[keyof typeof NormalizationMethods];

/** Fitted statistics of one agent's raw scores (JSON-serialisable as is). */
export interface ScoreNormalization {
  min: number;
  max: number;
  mean: number;
  /** Population standard deviation of the raw scores. */
  std: number;
  count: number;
  method: NormalizationMethod;
}

/** Allowed raw-score range; each bound is inclusive and optional (default: any finite number). */
export interface ScoreRange {
  min?: number;
  max?: number;
}

/**
 * Thrown when a raw score is not a finite number or lies outside the allowed range, or a
 * normalisation record is unusable. (Belongs in ml/errors.ts, owned by another engineer;
 * it can move there without changing its name.)
 */
export class ScoreValidationError extends Error {
  override readonly name = 'ScoreValidationError';
  constructor(
    message: string,
    /** The offending value (NaN/Infinity included). */
    readonly value: number,
    /** Its position in the input array, or null for a single value. */
    readonly index: number | null,
  ) {
    super(message);
  }
}

/**
 * Checks one raw score: finite and within `range`. The message names the value (and its
 * index when given), so an API can return it as is.
 */
export function validateScore(score: number, range: ScoreRange = {}, index: number | null = null): void {
  const where = index === null ? '' : ` at index ${index}`;
  if (typeof score !== 'number' || !Number.isFinite(score)) {
    throw new ScoreValidationError(`score${where} must be a finite number, got ${String(score)}`, score, index);
  }
  if (range.min !== undefined && score < range.min) {
    throw new ScoreValidationError(`score ${score}${where} is below the allowed minimum ${range.min}`, score, index);
  }
  if (range.max !== undefined && score > range.max) {
    throw new ScoreValidationError(`score ${score}${where} is above the allowed maximum ${range.max}`, score, index);
  }
}

/** Fits min-max normalisation to raw scores after validating each against `range`. */
export function fitScoreNormalization(scores: readonly number[], range: ScoreRange = {}): ScoreNormalization {
  if (scores.length === 0) throw new ScoreValidationError('cannot fit a score normalisation to zero scores', NaN, null);
  scores.forEach((s, i) => validateScore(s, range, i));
  let min = Infinity;
  let max = -Infinity;
  for (const s of scores) {
    if (s < min) min = s;
    if (s > max) max = s;
  }
  return { min, max, mean: mean(scores), std: std(scores), count: scores.length, method: NormalizationMethods.minmax };
}

function requireUsable(n: ScoreNormalization): void {
  if (n.method !== NormalizationMethods.minmax) {
    throw new ScoreValidationError(`unknown score normalisation method '${String(n.method)}'`, NaN, null);
  }
  if (!Number.isFinite(n.min) || !Number.isFinite(n.max) || n.max < n.min) {
    throw new ScoreValidationError(`score normalisation has an invalid range [${n.min}, ${n.max}]`, n.min, null);
  }
}

/** Raw score → normalised scale ([−1, 1] inside the fitted range; 0 for a constant fit). */
export function normalize(n: ScoreNormalization, raw: number): number {
  requireUsable(n);
  validateScore(raw);
  const span = n.max - n.min;
  if (span === 0) return 0;
  return (2 * (raw - n.min)) / span - 1;
}

/**
 * Normalised value → raw score scale (a constant fit maps everything to that constant).
 * Pure arithmetic: a NaN prediction from a diverged model comes back NaN, for the caller's
 * metrics and quality gate to reject, instead of throwing mid-evaluation.
 */
export function denormalize(n: ScoreNormalization, value: number): number {
  requireUsable(n);
  const span = n.max - n.min;
  return ((value + 1) / 2) * span + n.min;
}
