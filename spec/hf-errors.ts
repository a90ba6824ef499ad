/**
 * Errors thrown while reading or writing a Hugging Face model directory. Every one names the
 * file at fault and, where there is one, the tensor, both in the message and as readonly
 * fields, so an activity can map them to non-retryable failures without parsing text.
 * Match on `name`, not `instanceof` (classes differ across jest realms and Temporal's
 * failure conversion).
 */

/** Thrown when config.json names an architecture other than GPT2LMHeadModel. */
export class HfUnknownArchitectureError extends Error {
  override readonly name = 'HfUnknownArchitectureError';
  constructor(
    message: string,
    readonly file: string,
    /** What config.json says (`architectures` joined, or `model_type`), or null when absent. */
    readonly architecture: string | null,
  ) {
    super(message);
  }
}

/** Thrown when a file the directory needs (config, weights, tokenizer, a shard) does not exist. */
export class HfMissingFileError extends Error {
  override readonly name = 'HfMissingFileError';
  constructor(
    message: string,
    readonly file: string,
    /** The tensor that pointed at the file (a shard named in the index), or null. */
    readonly tensor: string | null = null,
  ) {
    super(message);
  }
}

/** Thrown when a safetensors tensor has a dtype other than F32, F16 or BF16. */
export class HfUnsupportedDtypeError extends Error {
  override readonly name = 'HfUnsupportedDtypeError';
  constructor(
    message: string,
    readonly file: string,
    readonly tensor: string,
    readonly dtype: string,
  ) {
    super(message);
  }
}

/** Thrown when a tensor's shape does not match what config.json implies, or a required tensor is absent. */
export class HfShapeMismatchError extends Error {
  override readonly name = 'HfShapeMismatchError';
  constructor(
    message: string,
    readonly file: string,
    readonly tensor: string,
    readonly expected: readonly number[] | null,
    /** null when the tensor is missing altogether. */
    readonly actual: readonly number[] | null,
  ) {
    super(message);
  }
}

/**
 * Thrown when a file is present but malformed or asks for something we do not implement: a
 * truncated safetensors header, out-of-range offsets, invalid JSON, a config option GPT-2's
 * architecture here does not support, an unexpected tensor, or a token missing from the vocabulary.
 */
export class HfFormatError extends Error {
  override readonly name = 'HfFormatError';
  constructor(
    message: string,
    readonly file: string,
    readonly tensor: string | null = null,
  ) {
    super(message);
  }
}

/**
 * Thrown when a requested base-model directory is not allowed: no root is configured, the
 * path escapes the root (`..`, an absolute path elsewhere, a symlink out), or it is not an
 * existing directory with a config.json. `requested` is the caller's string as given.
 */
export class HfBaseModelDirError extends Error {
  override readonly name = 'HfBaseModelDirError';
  constructor(
    message: string,
    readonly requested: string,
    readonly reason: 'no_root' | 'outside_root' | 'not_a_directory' | 'not_a_model',
  ) {
    super(message);
  }
}

/** Names of the errors above: bad files or a bad request, never transient (match on `name`, not instanceof). */
export const HF_ERROR_NAMES: ReadonlySet<string> = new Set([
  'HfUnknownArchitectureError',
  'HfMissingFileError',
  'HfUnsupportedDtypeError',
  'HfShapeMismatchError',
  'HfFormatError',
  'HfBaseModelDirError',
  'HfHubNotFoundError',
]);

/**
 * Thrown when the Hugging Face Hub has no such repository, revision or file (HTTP 401/403/404
 * on `resolve`): the request names something that does not exist, so retrying cannot help.
 */
export class HfHubNotFoundError extends Error {
  override readonly name = 'HfHubNotFoundError';
  constructor(
    message: string,
    /** `org/name` as requested. */
    readonly repo: string,
    /** The file inside the repository. */
    readonly file: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * Thrown when a downloaded file does not match the hub's checksum (sha256 from the LFS etag, or
 * the git blob sha1 of a small file) or its announced size. The partial file is deleted and
 * nothing is published; a retry downloads from scratch.
 */
export class HfHubChecksumError extends Error {
  override readonly name = 'HfHubChecksumError';
  constructor(
    message: string,
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(message);
  }
}

/**
 * Thrown when the hub cannot be reached or answers in a way that may pass (5xx, a reset
 * connection, too many redirects) after the download's own retries. Transient: retryable.
 */
export class HfHubTransferError extends Error {
  override readonly name = 'HfHubTransferError';
  constructor(
    message: string,
    readonly url: string,
  ) {
    super(message);
  }
}
