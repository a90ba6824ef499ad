/**
 * API key format and hashing. A key is `rlhf_<prefix>_<secret>`:
 *   prefix = 8 random bytes as 16 lower-case hex (public lookup part, unique in the table),
 *   secret = 32 random bytes as 43 base64url characters.
 * Only sha256(secret bytes) is stored. A 256-bit random secret needs no slow KDF (there is
 * nothing to brute-force, unlike a password); verification compares digests with
 * crypto.timingSafeEqual so the time taken says nothing about how much of a guess matched.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Project names and key labels: plain, printable, bounded labels (they appear in listings). */
export const LABEL_RE = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;

const KEY_RE = /^rlhf_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const SECRET_BYTES = 32;
const PREFIX_BYTES = 8;

export interface ParsedApiKey {
  prefix: string;
  secret: Buffer;
}

export interface NewKeyMaterial {
  /** The full key, shown to its owner once and never stored. */
  key: string;
  prefix: string;
  keyHash: string;
}

/** `proj_` + 20 url-safe characters (15 random bytes); matches SAFE_ID_PATTERN. */
export function newProjectId(): string {
  return `proj_${randomBytes(15).toString('base64url')}`;
}

export function hashSecret(secret: Buffer): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function generateKeyMaterial(): NewKeyMaterial {
  const prefix = randomBytes(PREFIX_BYTES).toString('hex');
  const secret = randomBytes(SECRET_BYTES);
  return { key: `rlhf_${prefix}_${secret.toString('base64url')}`, prefix, keyHash: hashSecret(secret) };
}

/** The key's parts, or null when the string is not shaped like a key (no lookup is made then). */
export function parseApiKey(value: string): ParsedApiKey | null {
  const m = KEY_RE.exec(value);
  if (!m) return null;
  const secret = Buffer.from(m[2], 'base64url');
  // 43 base64url chars carry 258 bits; a non-canonical last char still decodes to 32 bytes, so re-encode to reject it.
  if (secret.length !== SECRET_BYTES || secret.toString('base64url') !== m[2]) return null;
  return { prefix: m[1], secret };
}

/** Constant-time comparison of a presented secret with a stored hex digest. */
export function secretMatches(secret: Buffer, storedHash: string): boolean {
  const expected = Buffer.from(storedHash, 'hex');
  const actual = createHash('sha256').update(secret).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** `Authorization: Bearer <key>` → the key string, or null (missing header, other scheme). */
export function bearerToken(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const m = /^Bearer ([^\s]+)$/i.exec(header.trim());
  return m ? m[1] : null;
}
