import fc from 'fast-check';
import { averageRanks, mae, mean, mse, pearson, spearman, std } from '../../ml/stats';

describe('stats', () => {
  it('mean and std match hand values', () => {
    // [2,4,4,4,5,5,7,9]: mean 5, squared deviations sum to 32 → population std 2, sample std sqrt(32/7).
    const xs = [2, 4, 4, 4, 5, 5, 7, 9];
    expect(mean(xs)).toBe(5);
    expect(std(xs)).toBe(2);
    expect(std(xs, true)).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(std([3])).toBe(0);
  });

  it('mse and mae match hand values', () => {
    // errors 0, 1, 2 → MSE 5/3, MAE 1
    expect(mse([1, 2, 3], [1, 3, 5])).toBeCloseTo(5 / 3, 12);
    expect(mae([1, 2, 3], [1, 3, 5])).toBe(1);
  });

  it('pearson matches hand values', () => {
    expect(pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(pearson([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    // deviations [−1.5,−.5,.5,1.5] and [−1.5,.5,−.5,1.5]: Σab = 4, Σa² = Σb² = 5 → 0.8
    expect(pearson([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(0.8, 12);
  });

  it('pearson is 0 for a constant side and NaN for non-finite input', () => {
    expect(pearson([1, 1, 1], [1, 2, 3])).toBe(0);
    expect(pearson([1, 2, 3], [5, 5, 5])).toBe(0);
    expect(pearson([1, NaN, 3], [1, 2, 3])).toBeNaN();
    expect(spearman([1, Infinity, 3], [1, 2, 3])).toBeNaN();
  });

  it('average ranks share tied positions', () => {
    expect(averageRanks([3, 1, 3, 2])).toEqual([3.5, 1, 3.5, 2]);
    expect(averageRanks([5, 5, 5])).toEqual([2, 2, 2]);
  });

  it('spearman matches a hand value with ties and ignores monotone transforms', () => {
    // ranks [1, 2.5, 2.5, 4] vs [1, 2, 3, 4]: Σab = 4.5, Σa² = 4.5, Σb² = 5 → 4.5 / sqrt(22.5)
    expect(spearman([1, 2, 2, 3], [10, 20, 30, 40])).toBeCloseTo(4.5 / Math.sqrt(22.5), 12);
    const xs = [0.1, 2, -1, 3.5, 0.7];
    expect(spearman(xs, xs.map(Math.exp))).toBeCloseTo(1, 12);
    expect(pearson(xs, xs.map(Math.exp))).toBeLessThan(0.99);
  });

  it('correlations stay in [−1, 1] and are symmetric (property, seeded)', () => {
    const finite = fc.double({ min: -1e6, max: 1e6, noNaN: true });
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 30 }).chain((n) => fc.tuple(fc.array(finite, { minLength: n, maxLength: n }), fc.array(finite, { minLength: n, maxLength: n }))),
        ([a, b]) => {
          for (const f of [pearson, spearman]) {
            const r = f(a, b);
            expect(r).toBeGreaterThanOrEqual(-1);
            expect(r).toBeLessThanOrEqual(1);
            expect(f(b, a)).toBeCloseTo(r, 9);
          }
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  it('rejects empty and mismatched input', () => {
    expect(() => mean([])).toThrow(RangeError);
    expect(() => std([1], true)).toThrow(RangeError);
    expect(() => mse([1, 2], [1])).toThrow(/differ in length/);
    expect(() => pearson([], [])).toThrow(RangeError);
  });
});
