import fc from 'fast-check';
import { BYTE_VOCAB_SIZE } from '../../spec/run-config';
import { ByteTokenizer } from '../../ml/tokenizer';

const tok = new ByteTokenizer();

describe('ByteTokenizer', () => {
  it('has 256 byte ids and three specials matching the config vocabulary', () => {
    expect([tok.vocabSize, tok.bosId, tok.eosId, tok.padId]).toEqual([BYTE_VOCAB_SIZE, 256, 257, 258]);
  });

  it('encodes to UTF-8 bytes without specials', () => {
    expect(tok.encode('hi é')).toEqual([104, 105, 32, 0xc3, 0xa9]);
    expect(tok.encode('')).toEqual([]);
  });

  it.each(['plain ascii', 'café crème', '日本語のテキスト', 'emoji 👍🏽 and 👨‍👩‍👧', 'e\u0301 combining', '\uFEFFleading BOM', 'tab\tnew\nline\0nul'])(
    'round-trips %j exactly',
    (text) => {
      expect(tok.decode(tok.encode(text))).toBe(text);
    },
  );

  it('round-trips any well-formed string (property, seeded)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => tok.decode(tok.encode(s)) === s),
      { seed: 17, numRuns: 300 },
    );
  });

  it('drops specials and out-of-range ids when decoding', () => {
    expect(tok.decode([tok.bosId, 104, 105, tok.eosId, tok.padId, 999, -1, 1.5])).toBe('hi');
  });

  it('replaces invalid UTF-8 with U+FFFD and never throws', () => {
    expect(tok.decode([0xff, 104])).toBe('\uFFFDh');
    expect(tok.decode([0xe6, 0x97])).toBe('\uFFFD'); // truncated 3-byte sequence
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -5, max: 300 })), (ids) => typeof tok.decode(ids) === 'string'),
      { seed: 18, numRuns: 300 },
    );
  });
});
