/**
 * GPT-2's byte-level alphabet and pre-tokenizer (Radford et al. 2019; openai/gpt-2
 * `encoder.py`, the same rules as HF tokenizers' `ByteLevel` pre-tokenizer with use_regex).
 *
 * BPE runs on UTF-8 bytes, but each byte is shown as a printable Unicode character so that
 * vocabulary entries are readable strings without whitespace or control characters: the 188
 * printable bytes in '!'..'~', '¡'..'¬', '®'..'ÿ' stand for themselves, and the other 68 are
 * mapped in order to U+0100 onwards (so the space byte 0x20 is 'Ġ').
 */

/** Byte value → its stand-in character (GPT-2 `bytes_to_unicode`). */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : next++));
  return out;
})();

/** Stand-in character → byte value (the inverse of BYTE_TO_CHAR). */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/**
 * GPT-2's pre-tokenization pattern: English contractions, optional-space + letters, optional-space
 * + digits, optional-space + other symbols, whitespace not followed by a non-space (so a run of
 * spaces leaves its last space to the next word), and any remaining whitespace.
 * "Whitespace" is Unicode's White_Space property, as the Rust regex engine behind HF tokenizers
 * reads `\s`; JS's own `\s` differs (it includes U+FEFF and omits U+0085), which changed the ids
 * of strings holding those characters.
 */
export const GPT2_PRETOKENIZE_PATTERN =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;

/** Splits text into the pieces BPE runs on, each already mapped to byte-level characters. */
export function byteLevelPieces(text: string): string[] {
  const encoder = new TextEncoder();
  const pieces: string[] = [];
  for (const match of text.matchAll(GPT2_PRETOKENIZE_PATTERN)) {
    let piece = '';
    for (const b of encoder.encode(match[0])) piece += BYTE_TO_CHAR[b];
    pieces.push(piece);
  }
  return pieces;
}
