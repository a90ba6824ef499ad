/**
 * Errors of the PPO trainer and the policy export. (ml/errors.ts is owned by another
 * engineer; these belong there and can move without changing their names.) Match on
 * `name`, not `instanceof`: classes differ across jest realms and Temporal's failure
 * conversion.
 */

/**
 * Thrown when the PPO trainer's inputs or a checkpoint's state do not fit together: no
 * prompts, a prompt list or model that differs from the checkpointed run, a state record
 * of the wrong shape. Bad data, so a retry cannot help.
 */
export class PpoStateError extends Error {
  override readonly name = 'PpoStateError';
  constructor(
    message: string,
    /** The setting or state field at fault (e.g. 'prompts', 'cursor', 'baseWeights'). */
    readonly field: string,
  ) {
    super(message);
  }
}

/** Thrown when a PPO update produces a non-finite metric (NaN or ±Infinity); training must not continue from it. */
export class NonFiniteMetricError extends Error {
  override readonly name = 'NonFiniteMetricError';
  constructor(
    message: string,
    /** The metric key whose value was not finite. */
    readonly metric: string,
    readonly value: number,
    /** Updates completed before the failing one. */
    readonly update: number,
  ) {
    super(message);
  }
}

/** Thrown when a saved policy directory is incomplete or inconsistent (missing file, unknown format, tokenizer mismatch). */
export class PolicyFormatError extends Error {
  override readonly name = 'PolicyFormatError';
  constructor(
    message: string,
    /** The directory that was read. */
    readonly dir: string,
    /** The file at fault, relative to `dir`. */
    readonly file: string,
  ) {
    super(message);
  }
}
