/** The A/B report's statistics (api/ab-report.ts): intervals, Welch's difference, verdicts, the control. */
import { abReport, welchInterval } from '../../api/ab-report';

const stats = (version: string, count: number, mean: number, variance: number | null) => ({ version, count, mean, variance });

it('computes Welch\'s interval (n 10 and 10, variances 1, df 18)', () => {
  const iv = welchInterval(stats('v2', 10, 1, 1), stats('v1', 10, 0, 1));
  // se = √(1/10 + 1/10) = 0.44721; t(0.975, 18) = 2.1009 → half-width 0.93955.
  expect(iv?.low).toBeCloseTo(1 - 0.93955, 2);
  expect(iv?.high).toBeCloseTo(1 + 0.93955, 2);
});

it('says better, worse or not yet known from the interval', () => {
  const weights = new Map([
    ['v1', 0.5],
    ['v2', 0.3],
    ['v3', 0.2],
  ]);
  const report = abReport([stats('v1', 200, 0, 1), stats('v2', 200, 0.5, 1), stats('v3', 200, -0.05, 1)], weights);
  expect(report.control).toBe('v1');
  const verdicts = Object.fromEntries(report.comparisons.map((c) => [c.version, c.verdict]));
  expect(verdicts).toEqual({ v2: 'better', v3: 'not_yet_known' });
  const worse = abReport([stats('v1', 200, 0, 1), stats('v2', 200, -0.5, 1)], new Map([['v1', 1]]));
  expect(worse.comparisons[0]).toMatchObject({ version: 'v2', control: 'v1', verdict: 'worse', difference: -0.5 });
});

it('gives no interval or verdict below 2 rows, and lists deployed versions without rows', () => {
  const report = abReport([stats('v1', 1, 0.3, null)], new Map([['v1', 0.9], ['v2', 0.1]]));
  expect(report.versions).toEqual([
    { version: 'v1', rows: 1, meanScore: 0.3, interval: null, weight: 0.9 },
    { version: 'v2', rows: 0, meanScore: null, interval: null, weight: 0.1 },
  ]);
  expect(report.comparisons).toEqual([{ version: 'v2', control: 'v1', difference: null, interval: null, verdict: 'not_yet_known' }]);
});

it('takes the requested control, else the heaviest deployed variant, else the oldest version with rows', () => {
  const s = [stats('v2', 5, 0, 1), stats('v10', 5, 1, 1)];
  expect(abReport(s, new Map()).control).toBe('v2');
  expect(abReport(s, new Map([['v10', 0.9], ['v2', 0.1]])).control).toBe('v10');
  expect(abReport(s, new Map([['v10', 0.9]]), 'v2').control).toBe('v2');
  expect(abReport([], new Map()).control).toBeNull();
});
