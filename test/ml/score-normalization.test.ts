import fc from 'fast-check';
import { denormalize, fitScoreNormalization, normalize, validateScore, type ScoreNormalization } from '../../ml/score-normalization';

/** Runs fn and returns what it threw (so tests can inspect name and context fields). */
function thrown(fn: () => unknown): Error & Record<string, unknown> {
  try {
    fn();
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a throw');
}

describe('score normalisation (min-max to [−1, 1])', () => {
  it('fits hand-computed statistics and maps the range onto [−1, 1]', () => {
    // [1, 3, 5]: mean 3, population std sqrt(8/3).
    const n = fitScoreNormalization([1, 3, 5]);
    expect(n).toEqual({ min: 1, max: 5, mean: 3, std: Math.sqrt(8 / 3), count: 3, method: 'minmax' });
    expect(normalize(n, 1)).toBe(-1);
    expect(normalize(n, 3)).toBe(0);
    expect(normalize(n, 5)).toBe(1);
    expect(normalize(n, 2)).toBe(-0.5); // 2·(2−1)/4 − 1
    expect(denormalize(n, -0.5)).toBe(2);
    expect(normalize(n, 7)).toBe(2); // outside the fitted range: linear extrapolation
  });

  it('maps a constant score set to 0 without dividing by zero, and back to the constant', () => {
    const n = fitScoreNormalization([4, 4, 4]);
    expect(n.std).toBe(0);
    expect(normalize(n, 4)).toBe(0);
    expect(normalize(n, 9)).toBe(0);
    expect(denormalize(n, 0.7)).toBe(4);
  });

  it('survives a JSON round trip (it is stored next to the reward model)', () => {
    const n = fitScoreNormalization([-3.5, 0.25, 10]);
    const back = JSON.parse(JSON.stringify(n)) as ScoreNormalization;
    expect(normalize(back, 0.25)).toBe(normalize(n, 0.25));
  });

  it('denormalize inverts normalize (property, seeded)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: 2, maxLength: 20 }), (scores) => {
        const n = fitScoreNormalization(scores);
        for (const s of scores) {
          const y = normalize(n, s);
          if (n.max > n.min) {
            expect(Math.abs(y)).toBeLessThanOrEqual(1 + 1e-12);
            expect(denormalize(n, y)).toBeCloseTo(s, 6);
          } else expect(y).toBe(0);
        }
      }),
      { seed: 7, numRuns: 200 },
    );
  });

  it('passes a NaN prediction through denormalize for the metrics to reject', () => {
    expect(denormalize(fitScoreNormalization([0, 1]), NaN)).toBeNaN();
  });
});

describe('score validation', () => {
  it('rejects a non-finite score, naming the value and its index', () => {
    const err = thrown(() => fitScoreNormalization([1, NaN, 3]));
    expect(err.name).toBe('ScoreValidationError');
    expect(err.message).toMatch(/index 1.*NaN/);
    expect(err.index).toBe(1);
    expect(thrown(() => normalize(fitScoreNormalization([0, 1]), Infinity)).message).toMatch(/Infinity/);
  });

  it('enforces an optional allowed range and names the offending value', () => {
    const range = { min: 0, max: 10 };
    expect(() => validateScore(0, range)).not.toThrow();
    expect(() => validateScore(10, range)).not.toThrow();
    const high = thrown(() => fitScoreNormalization([1, 11], range));
    expect(high.message).toBe('score 11 at index 1 is above the allowed maximum 10');
    expect(high.value).toBe(11);
    expect(thrown(() => validateScore(-0.5, { min: 0 })).message).toBe('score -0.5 is below the allowed minimum 0');
    // The default range is any finite number.
    expect(() => validateScore(-1e9)).not.toThrow();
  });

  it('rejects an empty score set and an unusable normalisation record', () => {
    expect(thrown(() => fitScoreNormalization([])).name).toBe('ScoreValidationError');
    const bad = { min: 2, max: 1, mean: 0, std: 0, count: 1, method: 'minmax' } as const;
    expect(thrown(() => normalize(bad, 1)).message).toMatch(/invalid range/);
  });
});
