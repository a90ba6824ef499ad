/**
 * GPT-2 byte-level BPE (Sennrich et al. 2016; Radford et al. 2019) behind ml/'s `Tokenizer`.
 *
 * encode: split out added tokens (e.g. `<|endoftext|>`, leftmost-longest, as HF tokenizers'
 * AddedVocabulary), pre-tokenize the rest with GPT-2's pattern, map bytes to their stand-in
 * characters, then in each piece repeatedly merge the adjacent pair with the lowest merge rank
 * (openai/gpt-2 `encoder.py` `bpe`). decode: ids → token strings → bytes → UTF-8.
 *
 * The vocabulary and merges always come from the model directory (see tokenizer-files.ts);
 * nothing is built in. Special ids: bos/eos are the tokens the directory names (GPT-2 uses
 * `<|endoftext|>` for both); GPT-2 has no pad token, so pad falls back to eos, as is usual
 * for GPT-2 fine-tuning (every pad here is masked out anyway).
 */
import type { Tokenizer } from '../tokenizer';
import { CHAR_TO_BYTE, byteLevelPieces } from './byte-level';
import { HfFormatError } from '../../spec/hf-errors';

export interface AddedToken {
  id: number;
  content: string;
  /** Special tokens are dropped by `decode`. */
  special: boolean;
}

/** Everything that defines the tokenizer, as read from the directory's files. */
export interface BpeTokenizerSpec {
  /** Byte-level token string → id. */
  vocab: ReadonlyMap<string, number>;
  /** Merge rules in priority order (rank 0 first). */
  merges: readonly (readonly [string, string])[];
  /** Tokens matched verbatim before BPE (they may or may not also be in `vocab`). */
  addedTokens: readonly AddedToken[];
  bosToken: string;
  eosToken: string;
  /** null: pad with eos. */
  padToken: string | null;
  /** Prepend a space so the first word is tokenized like a word mid-sentence (ByteLevel add_prefix_space). */
  addPrefixSpace: boolean;
  /** File the spec came from, for error messages. */
  source: string;
}

/** Words cached per tokenizer before the cache is cleared (keeps memory bounded on long corpora). */
const WORD_CACHE_LIMIT = 50_000;

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly spec: BpeTokenizerSpec;
  private readonly ranks: Map<string, number>;
  private readonly idToToken: Map<number, string>;
  private readonly added: Map<string, AddedToken>;
  private readonly addedById: Map<number, AddedToken>;
  /** Alternation of added tokens, longest first, so the regex's leftmost-first match is leftmost-longest. */
  private readonly addedPattern: RegExp | null;
  private readonly wordCache = new Map<string, number[]>();
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  constructor(spec: BpeTokenizerSpec) {
    this.spec = spec;
    // Merge key "a b": byte-level tokens never contain a space (0x20 is 'Ġ'), so this is unambiguous.
    this.ranks = new Map(spec.merges.map(([a, b], rank) => [`${a} ${b}`, rank]));
    this.idToToken = new Map([...spec.vocab].map(([tok, id]) => [id, tok]));
    this.added = new Map(spec.addedTokens.map((t) => [t.content, t]));
    this.addedById = new Map(spec.addedTokens.map((t) => [t.id, t]));
    const contents = spec.addedTokens.map((t) => t.content).filter((c) => c.length > 0);
    contents.sort((a, b) => b.length - a.length);
    this.addedPattern = contents.length > 0 ? new RegExp(contents.map(escapeRegExp).join('|'), 'gu') : null;
    let maxId = -1;
    for (const id of spec.vocab.values()) maxId = Math.max(maxId, id);
    for (const t of spec.addedTokens) maxId = Math.max(maxId, t.id);
    this.vocabSize = maxId + 1;
    this.bosId = this.idOf(spec.bosToken, 'bos');
    this.eosId = this.idOf(spec.eosToken, 'eos');
    this.padId = spec.padToken === null ? this.eosId : this.idOf(spec.padToken, 'pad');
  }

  /** Id of a token string (added tokens first, then the vocabulary); undefined when absent. */
  tokenToId(token: string): number | undefined {
    return this.added.get(token)?.id ?? this.spec.vocab.get(token);
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    let last = 0;
    // HF tokenizers' ByteLevel adds the prefix space to every segment between added tokens.
    const plain = (segment: string): void => {
      if (segment.length === 0) return;
      const input = this.spec.addPrefixSpace && !segment.startsWith(' ') ? ' ' + segment : segment;
      for (const piece of byteLevelPieces(input)) ids.push(...this.bpeWord(piece));
    };
    if (this.addedPattern !== null) {
      for (const m of text.matchAll(this.addedPattern)) {
        plain(text.slice(last, m.index));
        ids.push(this.added.get(m[0])!.id);
        last = m.index + m[0].length;
      }
    }
    plain(text.slice(last));
    return ids;
  }

  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const added = this.addedById.get(id);
      if (added !== undefined) {
        if (!added.special) bytes.push(...this.encoder.encode(added.content));
        continue;
      }
      const token = this.idToToken.get(id);
      if (token === undefined) continue; // out of range: dropped, as the interface promises
      for (const ch of token) {
        const b = CHAR_TO_BYTE.get(ch);
        if (b !== undefined) bytes.push(b);
        else bytes.push(...this.encoder.encode(ch)); // not a byte-level character; keep its text
      }
    }
    return this.decoder.decode(Uint8Array.from(bytes));
  }

  /** BPE on one pre-tokenized piece (already byte-level characters) → ids. */
  private bpeWord(piece: string): number[] {
    const cached = this.wordCache.get(piece);
    if (cached !== undefined) return cached;
    let symbols = Array.from(piece);
    while (symbols.length > 1) {
      let bestRank = Infinity;
      let bestAt = -1;
      for (let i = 0; i < symbols.length - 1; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          bestAt = i;
        }
      }
      if (bestAt < 0) break;
      // Merge every occurrence of the best pair, left to right (encoder.py's inner loop).
      const [a, b] = [symbols[bestAt], symbols[bestAt + 1]];
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i < symbols.length - 1 && symbols[i] === a && symbols[i + 1] === b) {
          merged.push(a + b);
          i++;
        } else {
          merged.push(symbols[i]);
        }
      }
      symbols = merged;
    }
    const ids = symbols.map((s) => {
      const id = this.spec.vocab.get(s);
      if (id === undefined) {
        const bytes = Array.from(s, (c) => CHAR_TO_BYTE.get(c) ?? -1);
        throw new HfFormatError(
          `${this.spec.source}: token '${s}' (bytes ${bytes.join(' ')}) is not in the vocabulary; a byte-level vocabulary must hold all 256 byte characters`,
          this.spec.source,
        );
      }
      return id;
    });
    if (this.wordCache.size >= WORD_CACHE_LIMIT) this.wordCache.clear();
    this.wordCache.set(piece, ids);
    return ids;
  }

  private idOf(token: string, role: string): number {
    const id = this.tokenToId(token);
    if (id === undefined) {
      throw new HfFormatError(`${this.spec.source}: ${role} token '${token}' is neither in the vocabulary nor an added token`, this.spec.source);
    }
    return id;
  }
}
