/**
 * Identifiers that become file paths (agentId, runId, version) must match SAFE_ID_PATTERN:
 * ASCII letters, digits, '_' and '-', starting with a letter or digit, at most 64 chars.
 * This rules out '.', '/', '\\', NUL, whitespace and every non-ASCII look-alike, so an id
 * can never leave the artifact root. The API schemas use the same pattern string.
 */
export const SAFE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';
const SAFE_ID_RE = new RegExp(SAFE_ID_PATTERN);

/** Thrown when an identifier that becomes a path does not match SAFE_ID_PATTERN. */
export class UnsafeIdError extends Error {
  override readonly name = 'UnsafeIdError';
  constructor(
    readonly field: string,
    readonly value: string,
  ) {
    super(`${field} must match ${SAFE_ID_PATTERN}`);
  }
}

export function isSafeId(value: unknown): value is string {
  return typeof value === 'string' && SAFE_ID_RE.test(value);
}

/** Returns the id unchanged, or throws UnsafeIdError naming the field. */
export function assertSafeId(value: unknown, field: string): string {
  if (!isSafeId(value)) throw new UnsafeIdError(field, String(value));
  return value;
}
