/**
 * Tokenizers. The byte-level one maps UTF-8 bytes to ids 0..255 and adds three specials, so any
 * text round-trips exactly with no vocabulary to ship (as ByT5, Xue et al. 2021). A BPE
 * tokenizer can implement the same interface later.
 */
import { BYTE_VOCAB_SIZE } from '../spec/run-config';

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** Text → ids, no special tokens added. */
  encode(text: string): number[];
  /** Ids → text. Special and out-of-range ids are dropped; invalid UTF-8 becomes U+FFFD. Never throws. */
  decode(ids: readonly number[]): string;
}

/** Byte-level tokenizer: ids 0..255 are bytes, 256 BOS, 257 EOS, 258 PAD (vocabulary 259). */
export class ByteTokenizer implements Tokenizer {
  readonly vocabSize = BYTE_VOCAB_SIZE;
  readonly bosId = 256;
  readonly eosId = 257;
  readonly padId = 258;
  private readonly encoder = new TextEncoder();
  // fatal: false replaces malformed sequences with U+FFFD instead of throwing.
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  encode(text: string): number[] {
    return Array.from(this.encoder.encode(text));
  }

  decode(ids: readonly number[]): string {
    const bytes = new Uint8Array(ids.length);
    let n = 0;
    for (const id of ids) if (Number.isInteger(id) && id >= 0 && id < 256) bytes[n++] = id;
    return this.decoder.decode(bytes.subarray(0, n));
  }
}
