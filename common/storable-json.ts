/**
 * Values as Postgres jsonb can hold them. A policy early in training can generate byte 0, and
 * jsonb refuses the \u0000 escape ("unsupported Unicode escape sequence", PostgreSQL manual 8.14,
 * "JSON Types"), so a NUL in any string becomes U+FFFD, the replacement character the byte decoder
 * already uses for invalid UTF-8. Only what is stored for display changes; training never sees it.
 */

/** `value` with every NUL in every string (keys included) replaced by U+FFFD; other values as they are. */
export function storableJson<T>(value: T): T {
  return replaceNul(value) as T;
}

function replaceNul(value: unknown): unknown {
  if (typeof value === 'string') return value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
  if (Array.isArray(value)) return value.map(replaceNul);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [replaceNul(k) as string, replaceNul(v)]));
  }
  return value;
}
