/** common/storable-json: what Postgres jsonb refuses (NUL) is replaced everywhere, nothing else changes. */
import { storableJson } from '../../common/storable-json';

it('replaces NUL in nested strings and keys with U+FFFD and leaves other values as they are', () => {
  const value = { pairs: [{ prompt: 'Q1: ', start: '\u0000a\u0000', startReward: -0.5 }], 'k\u0000': [null, true, 3, 'ok'], n: null };
  expect(storableJson(value)).toEqual({ pairs: [{ prompt: 'Q1: ', start: '\uFFFDa\uFFFD', startReward: -0.5 }], 'k\uFFFD': [null, true, 3, 'ok'], n: null });
  expect(value.pairs[0].start).toBe('\u0000a\u0000');
  expect(JSON.stringify(storableJson(value))).not.toContain('\\u0000');
});
