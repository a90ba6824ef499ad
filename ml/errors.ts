/**
 * Errors thrown by the ml/ layer. Each carries readonly context fields so callers (the
 * activities) can map them to non-retryable Temporal failures without parsing messages.
 * Match on `name`, not `instanceof`: classes differ across jest realms and Temporal's
 * failure conversion.
 */

/** Thrown when no TensorFlow.js backend could be initialised, or RLHF_BACKEND names an unknown one. */
export class BackendError extends Error {
  override readonly name = 'BackendError';
  constructor(
    message: string,
    /** What each candidate backend reported, in the order tried. */
    readonly attempts: readonly string[] = [],
  ) {
    super(message);
  }
}

/** Thrown when a weight record does not fit a model: an unknown, missing or wrongly sized tensor. */
export class WeightShapeError extends Error {
  override readonly name = 'WeightShapeError';
  constructor(
    message: string,
    /** Name of the offending tensor (as in `GptModel.namedVariables()`). */
    readonly tensorName: string,
    readonly expectedSize: number | null,
    readonly actualSize: number | null,
  ) {
    super(message);
  }
}

/** Thrown when a model input is malformed: wrong rank or dtype, batch mismatch, or a sequence longer than blockSize. */
export class ModelInputError extends Error {
  override readonly name = 'ModelInputError';
  constructor(
    message: string,
    /** The argument at fault (e.g. 'ids', 'mask', 'tokens'). */
    readonly argument: string,
  ) {
    super(message);
  }
}
