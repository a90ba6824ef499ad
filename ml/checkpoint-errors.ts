/**
 * Errors of the checkpoint store (ml/checkpoint.ts). (ml/errors.ts is owned by another
 * engineer; these belong there and can move without changing their names.) Match on
 * `name`, not `instanceof`: classes differ across jest realms and Temporal's failure
 * conversion.
 */

/**
 * Thrown when a checkpoint directory does not verify: a file is missing or torn, a sha256
 * differs from the manifest, or the manifest itself is unreadable or inconsistent.
 */
export class CheckpointCorruptError extends Error {
  override readonly name = 'CheckpointCorruptError';
  constructor(
    message: string,
    /** The checkpoint directory. */
    readonly dir: string,
    /** The file at fault, relative to `dir` (e.g. 'tensors.bin', 'manifest.json'). */
    readonly file: string,
  ) {
    super(message);
  }
}

/**
 * Thrown when a checkpoint directory does not exist at all. Carries `code = 'ENOENT'` so
 * callers that classify file-system errors treat it as any other missing file.
 */
export class CheckpointNotFoundError extends Error {
  override readonly name = 'CheckpointNotFoundError';
  readonly code = 'ENOENT';
  constructor(
    message: string,
    /** The directory that was looked for. */
    readonly dir: string,
  ) {
    super(message);
  }
}

/** Thrown when `writeCheckpoint` is given unusable input: duplicate names, or data that does not fit its shape. */
export class CheckpointInputError extends Error {
  override readonly name = 'CheckpointInputError';
  constructor(
    message: string,
    /** Name of the offending tensor, or 'state'. */
    readonly tensorName: string,
  ) {
    super(message);
  }
}

/**
 * Thrown when `writeCheckpoint` is given a tensor holding NaN or ±Infinity: a diverged weight is
 * never checkpointed, so resume and rollback only ever find finite states. Nothing is written.
 */
export class CheckpointNonFiniteError extends Error {
  override readonly name = 'CheckpointNonFiniteError';
  constructor(
    message: string,
    /** Name of the first tensor with a non-finite value. */
    readonly tensorName: string,
    /** Flat index of that value, and the value itself. */
    readonly index: number,
    readonly value: number,
  ) {
    super(message);
  }
}
