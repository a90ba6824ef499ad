import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { BpeTokenizer, type BpeTokenizerSpec } from '../../ml/hf/bpe-tokenizer';
import { BYTE_TO_CHAR, CHAR_TO_BYTE, byteLevelPieces } from '../../ml/hf/byte-level';
import { readBpeTokenizer, type TokenizerSource } from '../../ml/hf/tokenizer-files';
import { FIXTURE_DIR, copyFixture, makeTempDir, readExpectations, type FixtureExpectations } from './fixture';

const SPECIAL = '<|endoftext|>';
let expected: FixtureExpectations;
const sources: TokenizerSource[] = ['tokenizer.json', 'vocab+merges'];
const tokenizers = new Map<TokenizerSource, BpeTokenizer>();

beforeAll(async () => {
  expected = await readExpectations();
  for (const s of sources) tokenizers.set(s, await readBpeTokenizer(FIXTURE_DIR, s));
});

describe('byte-level alphabet (GPT-2 bytes_to_unicode)', () => {
  it('is a bijection of the 256 bytes onto printable characters, with space as Ġ', () => {
    expect(new Set(BYTE_TO_CHAR).size).toBe(256);
    expect(BYTE_TO_CHAR[0x20]).toBe('Ġ');
    expect(BYTE_TO_CHAR[0x0a]).toBe('Ċ');
    expect(BYTE_TO_CHAR[0x41]).toBe('A');
    expect(BYTE_TO_CHAR[0xe9]).toBe('é');
    for (let b = 0; b < 256; b++) expect(CHAR_TO_BYTE.get(BYTE_TO_CHAR[b])).toBe(b);
    expect(BYTE_TO_CHAR.every((c) => !/\s/u.test(c))).toBe(true);
  });

  it("pre-tokenizes like GPT-2: contractions, space-prefixed words, whitespace runs leave their last space", () => {
    const pieces = (s: string): string[] => byteLevelPieces(s).map((p) => Buffer.from(Array.from(p, (c) => CHAR_TO_BYTE.get(c)!)).toString('utf8'));
    expect(pieces("it's  ok 42!?")).toEqual(['it', "'s", ' ', ' ok', ' 42', '!?']);
    expect(pieces('a   b\n\n c')).toEqual(['a', '  ', ' b', '\n\n', ' c']);
    expect(pieces('end   ')).toEqual(['end', '   ']);
  });
});

describe.each(sources)('fixture tokenizer read from %s', (source) => {
  const tok = (): BpeTokenizer => tokenizers.get(source)!;

  it("reproduces transformers' ids on the whole multilingual string set", () => {
    for (const { text, ids } of expected.tokenizer) expect({ text, ids: tok().encode(text) }).toEqual({ text, ids });
  });

  it('decodes back to the text transformers decodes, minus special tokens', () => {
    for (const { ids, decoded } of expected.tokenizer) expect(tok().decode(ids)).toBe(decoded.split(SPECIAL).join(''));
  });

  it('has the directory’s vocabulary size and its <|endoftext|> as bos, eos and pad', () => {
    expect(tok().vocabSize).toBe(expected.config.vocab_size);
    expect(tok().bosId).toBe(expected.special.bos_token_id);
    expect(tok().eosId).toBe(expected.special.eos_token_id);
    expect(tok().padId).toBe(tok().eosId);
  });
});

describe('BPE merge semantics (hand-made vocabulary)', () => {
  /** A byte-level vocabulary of the 256 bytes plus the merge results, with `merges` in rank order. */
  function handMade(merges: [string, string][], extra: Partial<BpeTokenizerSpec> = {}): BpeTokenizer {
    const vocab = new Map(BYTE_TO_CHAR.map((c, i) => [c, i]));
    for (const [a, b] of merges) if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);
    vocab.set(SPECIAL, vocab.size);
    return new BpeTokenizer({
      vocab,
      merges,
      addedTokens: [{ id: vocab.get(SPECIAL)!, content: SPECIAL, special: true }],
      bosToken: SPECIAL,
      eosToken: SPECIAL,
      padToken: null,
      addPrefixSpace: false,
      source: 'hand-made',
      ...extra,
    });
  }
  const id = (tok: BpeTokenizer, token: string): number => tok.tokenToId(token)!;

  it('applies the lowest-ranked pair first, then continues from the merged symbols', () => {
    const first = handMade([['a', 'b'], ['b', 'c'], ['ab', 'c']]);
    expect(first.encode('abc')).toEqual([id(first, 'abc')]); // a b → ab, then ab c → abc
    const second = handMade([['b', 'c'], ['a', 'b'], ['ab', 'c']]);
    expect(second.encode('abc')).toEqual([id(second, 'a'), id(second, 'bc')]); // b c wins; no rule for a + bc
  });

  it('merges every occurrence of the best pair in one pass, left to right', () => {
    const tok = handMade([['a', 'a']]);
    expect(tok.encode('aaaaa')).toEqual([id(tok, 'aa'), id(tok, 'aa'), id(tok, 'a')]);
  });

  it('never merges across pre-token boundaries (space starts a new word)', () => {
    const tok = handMade([['a', 'Ġ'], ['Ġ', 'b']]);
    expect(tok.encode('a b')).toEqual([id(tok, 'a'), id(tok, 'Ġb')]);
  });

  it('splits added tokens out of text, and add_prefix_space adds a space to each segment', () => {
    const tok = handMade([], { addPrefixSpace: true });
    const special = id(tok, SPECIAL);
    expect(tok.encode(`x${SPECIAL}y`)).toEqual([id(tok, 'Ġ'), id(tok, 'x'), special, id(tok, 'Ġ'), id(tok, 'y')]);
    expect(tok.decode(tok.encode(`x${SPECIAL}y`))).toBe(' x y');
  });

  it('decode drops out-of-range ids and repairs a cut UTF-8 sequence with U+FFFD', () => {
    const tok = handMade([]);
    const euro = tok.encode('€'); // 3 bytes
    expect(euro).toHaveLength(3);
    expect(tok.decode([...euro, -1, 10_000, 2.5])).toBe('€');
    expect(tok.decode(euro.slice(0, 2))).toBe('\uFFFD');
  });

  it('names the tokenizer file when a byte is missing from the vocabulary', () => {
    const vocab = new Map([['a', 0], [SPECIAL, 1]]);
    const tok = new BpeTokenizer({ vocab, merges: [], addedTokens: [], bosToken: SPECIAL, eosToken: SPECIAL, padToken: null, addPrefixSpace: false, source: '/x/vocab.json' });
    expect(tok.encode('a')).toEqual([0]);
    expect(() => tok.encode('b')).toThrow(expect.objectContaining({ name: 'HfFormatError', file: '/x/vocab.json' }));
  });
});

describe('round trip on arbitrary text (property)', () => {
  it('decode(encode(s)) === s for any Unicode string without the special token', () => {
    const tok = tokenizers.get('tokenizer.json')!;
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        fc.pre(!s.includes(SPECIAL));
        const ids = tok.encode(s);
        expect(ids.every((i) => Number.isInteger(i) && i >= 0 && i < tok.vocabSize)).toBe(true);
        expect(tok.decode(ids)).toBe(s);
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});

describe('reading a directory', () => {
  it('falls back to vocab.json + merges.txt when tokenizer.json is absent', async () => {
    const dir = await copyFixture('tok-fallback');
    try {
      await fs.rm(path.join(dir, 'tokenizer.json'));
      const tok = await readBpeTokenizer(dir);
      expect(tok.spec.source).toBe(path.join(dir, 'vocab.json'));
      for (const { text, ids } of expected.tokenizer) expect(tok.encode(text)).toEqual(ids);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('takes pad from tokenizer_config.json when it names one', async () => {
    const dir = await copyFixture('tok-pad');
    try {
      const vocab = JSON.parse(await fs.readFile(path.join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
      const cfgFile = path.join(dir, 'tokenizer_config.json');
      const cfg = JSON.parse(await fs.readFile(cfgFile, 'utf8')) as Record<string, unknown>;
      await fs.writeFile(cfgFile, JSON.stringify({ ...cfg, pad_token: 'Ġthe' }));
      const tok = await readBpeTokenizer(dir);
      expect(tok.padId).toBe(vocab['Ġthe']);
      expect(tok.eosId).toBe(expected.special.eos_token_id);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('names the missing tokenizer files', async () => {
    const empty = await makeTempDir('tok-empty');
    try {
      const err = await readBpeTokenizer(empty).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'HfMissingFileError', file: path.join(empty, 'tokenizer.json') });
      expect((err as Error).message).toContain('merges.txt');
      await fs.writeFile(path.join(empty, 'vocab.json'), '{}');
      await expect(readBpeTokenizer(empty, 'vocab+merges')).rejects.toMatchObject({ name: 'HfMissingFileError', file: path.join(empty, 'merges.txt') });
    } finally {
      await fs.rm(empty, { recursive: true, force: true });
    }
  });

  it('refuses a tokenizer.json that is not byte-level BPE, naming the file', async () => {
    const dir = await copyFixture('tok-wordpiece');
    try {
      const file = path.join(dir, 'tokenizer.json');
      const json = JSON.parse(await fs.readFile(file, 'utf8')) as { model: { type: string } };
      json.model.type = 'WordPiece';
      await fs.writeFile(file, JSON.stringify(json));
      await expect(readBpeTokenizer(dir)).rejects.toMatchObject({ name: 'HfFormatError', file });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
