/** Student t critical values (common/student-t.ts) against the printed table (two-sided 95 %). */
import { tCritical95 } from '../../common/student-t';

it.each([
  [1, 12.7062],
  [2, 4.3027],
  [3, 3.1824],
  [4, 2.7764],
  [5, 2.5706],
  [10, 2.2281],
  [18, 2.1009],
  [30, 2.0423],
  [100, 1.984],
])('t(0.975, %d) = %d', (df, table) => {
  expect(Math.abs(tCritical95(df) - table)).toBeLessThan(df < 3 ? 1e-4 : 4e-3);
});

it('errs wide for fractional degrees of freedom below 3, and refuses nonsense', () => {
  expect(tCritical95(1.5)).toBeCloseTo(12.7062, 3);
  expect(tCritical95(2.7)).toBeCloseTo(4.3027, 3);
  expect(() => tCritical95(0)).toThrow(RangeError);
  expect(() => tCritical95(Number.NaN)).toThrow(RangeError);
});
