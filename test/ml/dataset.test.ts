import { encodeExample, encodePrompt, leftPadIds, leftPadPrompts, padSequences, rightPadBatch, trainingBatch } from '../../ml/dataset';
import { DEFAULT_VAL_FRACTION, splitTrainVal } from '../../spec/train-val-split';
import { Rng } from '../../ml/rng';
import { tf } from '../../ml/tf';
import { ByteTokenizer } from '../../ml/tokenizer';

const tok = new ByteTokenizer();
const BOS = tok.bosId;
const EOS = tok.eosId;
const PAD = tok.padId;
const bytes = (s: string): number[] => Array.from(Buffer.from(s, 'utf8'));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('splitTrainVal', () => {
  const rows = Array.from({ length: 50 }, (_, i) => i);

  it('splits 80/20 by default, disjoint, covering every row', () => {
    const { train, val } = splitTrainVal(rows, DEFAULT_VAL_FRACTION, new Rng(1));
    expect(val).toHaveLength(10);
    expect(train).toHaveLength(40);
    expect([...train, ...val].sort((a, b) => a - b)).toEqual(rows);
  });

  it('is a seeded shuffle: same seed same split, other seed other split, input untouched', () => {
    const a = splitTrainVal(rows, 0.2, new Rng(5));
    const b = splitTrainVal(rows, 0.2, new Rng(5));
    const c = splitTrainVal(rows, 0.2, new Rng(6));
    expect(a).toEqual(b);
    expect(a.val).not.toEqual(c.val);
    expect(a.val).not.toEqual(rows.slice(0, 10)); // actually shuffled
    expect(rows).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('keeps at least one row on each side when n >= 2', () => {
    expect(splitTrainVal([1, 2], 0.2, new Rng(1)).val).toHaveLength(1);
    expect(splitTrainVal([1, 2], 0.2, new Rng(1)).train).toHaveLength(1);
    expect(splitTrainVal([1, 2, 3], 0.95, new Rng(1)).train).toHaveLength(1);
    expect(splitTrainVal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.01, new Rng(1)).val).toHaveLength(1);
  });

  it('puts a single row in training and handles an empty list', () => {
    expect(splitTrainVal(['x'], 0.2, new Rng(1))).toEqual({ train: ['x'], val: [] });
    expect(splitTrainVal([], 0.2, new Rng(1))).toEqual({ train: [], val: [] });
  });

  it('rejects a fraction outside (0, 1) with a ConfigError naming the field', () => {
    expect(() => splitTrainVal(rows, 0, new Rng(1))).toThrow(expect.objectContaining({ name: 'ConfigError', field: 'valFraction' }));
    expect(() => splitTrainVal(rows, 1, new Rng(1))).toThrow(expect.objectContaining({ name: 'ConfigError' }));
  });
});

describe('encodeExample', () => {
  it('lays out [BOS] prompt response [EOS] when it fits', () => {
    const e = encodeExample(tok, { prompt: 'Q1: ', response: 'ab' }, 64);
    expect(e.ids).toEqual([BOS, ...bytes('Q1: '), ...bytes('ab'), EOS]);
    expect(e.promptLength).toBe(5);
    expect(e.ids[e.promptLength]).toBe(bytes('a')[0]);
    expect(e.truncated).toBe(false);
  });

  it('exactly blockSize long is not truncated', () => {
    const e = encodeExample(tok, { prompt: 'abc', response: 'de' }, 7);
    expect(e.ids).toHaveLength(7);
    expect(e.truncated).toBe(false);
  });

  it('cuts the prompt from the left first', () => {
    const e = encodeExample(tok, { prompt: 'abcdef', response: 'xy' }, 8);
    // room: 8 - BOS - EOS - 2 response = 4 prompt bytes, the last four
    expect(e.ids).toEqual([BOS, ...bytes('cdef'), ...bytes('xy'), EOS]);
    expect(e.promptLength).toBe(5);
    expect(e.truncated).toBe(true);
  });

  it('drops the whole prompt when the response needs all the room', () => {
    const e = encodeExample(tok, { prompt: 'abc', response: 'wxyz' }, 6);
    expect(e.ids).toEqual([BOS, ...bytes('wxyz'), EOS]);
    expect(e.promptLength).toBe(1);
  });

  it('cuts the response from the right last, without EOS', () => {
    const e = encodeExample(tok, { prompt: 'abc', response: 'uvwxyz' }, 5);
    expect(e.ids).toEqual([BOS, ...bytes('uvwx')]);
    expect(e.promptLength).toBe(1);
    expect(e.truncated).toBe(true);
  });

  it('never exceeds blockSize (random lengths)', () => {
    const rng = new Rng(3);
    for (let i = 0; i < 200; i++) {
      const prompt = 'p'.repeat(rng.int(40));
      const response = 'r'.repeat(rng.int(40));
      const block = 2 + rng.int(60);
      const e = encodeExample(tok, { prompt, response }, block);
      expect(e.ids.length).toBeLessThanOrEqual(block);
      expect(e.ids[0]).toBe(BOS);
      expect(e.truncated).toBe(prompt.length + response.length + 2 > block);
      // the response is kept whole whenever it can be
      if (response.length + 2 <= block) expect(e.ids.slice(e.promptLength, -1)).toEqual(bytes(response));
    }
  });

  it('rejects a blockSize below 2', () => {
    expect(() => encodeExample(tok, { prompt: '', response: '' }, 1)).toThrow(expect.objectContaining({ name: 'ConfigError' }));
  });
});

describe('encodePrompt', () => {
  it('keeps BOS and the end of the prompt', () => {
    expect(encodePrompt(tok, 'Q12: ', 10)).toEqual([BOS, ...bytes('Q12: ')]);
    expect(encodePrompt(tok, 'Q12: ', 3)).toEqual([BOS, ...bytes(': ')]);
    expect(encodePrompt(tok, 'Q12: ', 1)).toEqual([BOS]);
  });
});

describe('padding', () => {
  it('padSequences right and left, hand-checked', () => {
    const right = padSequences([[1, 2, 3], [4]], 9, 'right');
    expect(Array.from(right.ids)).toEqual([1, 2, 3, 4, 9, 9]);
    expect(Array.from(right.mask)).toEqual([1, 1, 1, 1, 0, 0]);
    const left = padSequences([[1, 2, 3], [4]], 9, 'left');
    expect(Array.from(left.ids)).toEqual([1, 2, 3, 9, 9, 4]);
    expect(Array.from(left.mask)).toEqual([1, 1, 1, 0, 0, 1]);
    expect(left.offsets).toEqual([0, 2]);
  });

  it('rejects an empty batch or an empty sequence', () => {
    expect(() => padSequences([], PAD, 'left')).toThrow(RangeError);
    expect(() => padSequences([[1], []], PAD, 'left')).toThrow(RangeError);
  });

  it('rightPadBatch and leftPadIds give int32 ids and float32 masks [B, T]', () => {
    const r = rightPadBatch([[BOS, 5, EOS], [BOS]], PAD);
    expect(r.ids.dtype).toBe('int32');
    expect(r.mask.dtype).toBe('float32');
    expect(r.ids.arraySync()).toEqual([[BOS, 5, EOS], [BOS, PAD, PAD]]);
    expect(r.mask.arraySync()).toEqual([[1, 1, 1], [1, 0, 0]]);
    const l = leftPadIds([[BOS, 5, 6], [BOS]], PAD);
    expect(l.ids.arraySync()).toEqual([[BOS, 5, 6], [PAD, PAD, BOS]]);
    expect(l.mask.arraySync()).toEqual([[1, 1, 1], [0, 0, 1]]);
    tf.dispose([r.ids, r.mask, l.ids, l.mask]);
  });

  it('leftPadPrompts encodes, truncates to maxLen and left-pads', () => {
    const { ids, mask } = leftPadPrompts(tok, ['ab', 'wxyz'], 4);
    expect(ids.arraySync()).toEqual([[PAD, BOS, ...bytes('ab')], [BOS, ...bytes('xyz')]]);
    expect(mask.arraySync()).toEqual([[0, 1, 1, 1], [1, 1, 1, 1]]);
    tf.dispose([ids, mask]);
  });
});

describe('trainingBatch', () => {
  it('marks response tokens (EOS included) and shifts them into the label mask', () => {
    const a = encodeExample(tok, { prompt: 'P', response: 'ab' }, 64); // BOS P a b EOS
    const b = encodeExample(tok, { prompt: 'QQ', response: 'c' }, 64); // BOS Q Q c EOS
    const c = encodeExample(tok, { prompt: '', response: '' }, 64); // BOS EOS
    const before = tf.memory().numTensors;
    const batch = trainingBatch([a, b, c], PAD);
    expect(batch.ids.shape).toEqual([3, 5]);
    expect(batch.mask.arraySync()).toEqual([
      [1, 1, 1, 1, 1],
      [1, 1, 1, 1, 1],
      [1, 1, 0, 0, 0],
    ]);
    expect(batch.responseMask.arraySync()).toEqual([
      [0, 0, 1, 1, 1],
      [0, 0, 0, 1, 1],
      [0, 1, 0, 0, 0],
    ]);
    expect(batch.labelMask.arraySync()).toEqual([
      [0, 1, 1, 1],
      [0, 0, 1, 1],
      [1, 0, 0, 0],
    ]);
    expect(batch.lengths).toEqual([5, 5, 2]);
    expect(batch.promptLengths).toEqual([2, 3, 1]);
    tf.dispose([batch.ids, batch.mask, batch.responseMask, batch.labelMask]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a response mask never covers padding or the prompt', () => {
    const rng = new Rng(4);
    const examples = Array.from({ length: 8 }, () =>
      encodeExample(tok, { prompt: 'x'.repeat(rng.int(10)), response: 'y'.repeat(rng.int(10)) }, 16),
    );
    const batch = trainingBatch(examples, PAD);
    const ids = batch.ids.arraySync();
    const rm = batch.responseMask.arraySync();
    ids.forEach((row, r) =>
      row.forEach((id, t) => {
        if (rm[r][t] === 1) expect([bytes('y')[0], EOS]).toContain(id);
        else expect(id).not.toBe(bytes('y')[0]);
      }),
    );
    tf.dispose([batch.ids, batch.mask, batch.responseMask, batch.labelMask]);
  });
});
