/**
 * The feedback row as training sees it, and the seeded train/validation split of those rows.
 * Pure: the API sizes a dry run from the same split the worker trains on, without loading
 * TensorFlow.js.
 */
import { ConfigError } from './run-config';
import type { Rng } from '../ml/rng';

/** One human-feedback row as the ML layer sees it. */
export interface FeedbackExample {
  prompt: string;
  response: string;
  /** Raw score as the human gave it (normalised later, see score-normalization.ts). */
  score: number;
}

/** The split of `splitTrainVal`. */
export interface TrainValSplit<T> {
  train: T[];
  val: T[];
}

/** The seed's 80/20 split. */
export const DEFAULT_VAL_FRACTION = 0.2;

/**
 * Seeded shuffle, then the first round(n × valFraction) rows go to validation. With n >= 2
 * each side gets at least one row (a metric over zero rows is undefined); with n < 2 every
 * row goes to training. The input array is not modified.
 */
export function splitTrainVal<T>(rows: readonly T[], valFraction: number, rng: Rng): TrainValSplit<T> {
  if (!(valFraction > 0 && valFraction < 1)) {
    throw new ConfigError(`valFraction must be in (0, 1), got ${valFraction}`, 'valFraction');
  }
  const shuffled = rng.shuffle([...rows]);
  if (shuffled.length < 2) return { train: shuffled, val: [] };
  const nVal = Math.min(shuffled.length - 1, Math.max(1, Math.round(shuffled.length * valFraction)));
  return { val: shuffled.slice(0, nVal), train: shuffled.slice(nVal) };
}
