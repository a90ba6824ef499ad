/**
 * Errors of the artifact store. Each has a stable `name` (callers classify by name, not
 * `instanceof`, which breaks across jest realms) and readonly context fields.
 */

/** Thrown when a key is not '/'-joined safe segments (traversal, absolute, NUL, backslash, non-ASCII, empty). */
export class InvalidArtifactKeyError extends Error {
  override readonly name = 'InvalidArtifactKeyError';
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`invalid artifact key ${JSON.stringify(key)}: ${reason}`);
  }
}

/**
 * Thrown when a key names nothing in the store. `code` is 'ENOENT' like Node's own error, so
 * callers that treat a missing file as a missing artifact treat this one the same way.
 */
export class ArtifactNotFoundError extends Error {
  override readonly name = 'ArtifactNotFoundError';
  readonly code = 'ENOENT';
  constructor(readonly key: string) {
    super(`no artifact at ${key}`);
  }
}

/** Thrown when copyDir's destination already exists (remove it first to replace it). */
export class ArtifactExistsError extends Error {
  override readonly name = 'ArtifactExistsError';
  constructor(readonly key: string) {
    super(`artifact ${key} already exists`);
  }
}

/** Thrown when a JSON artifact does not parse (written by something other than this store). */
export class ArtifactCorruptError extends Error {
  override readonly name = 'ArtifactCorruptError';
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`artifact ${key} is corrupt: ${reason}`);
  }
}
