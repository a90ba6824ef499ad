/**
 * The A/B report of an agent's versions from attributed feedback (issue 13): per version the
 * rows, mean score and its 95 % interval (Student t); per challenger the difference of means
 * against the control with Welch's 95 % interval (unequal variances, Welch–Satterthwaite degrees
 * of freedom) and a plain verdict: 'better' or 'worse' when the interval excludes 0, otherwise
 * 'not_yet_known'. Each look is a fixed-level interval; looking again and again as rows arrive
 * raises the chance of a false verdict (no sequential correction), which the API docs state.
 */
import type { VersionScoreStats } from '../db/repositories';
import { tCritical95 } from '../common/student-t';

/** Fewer rows than this on either side gives no interval and no verdict. */
export const MIN_ROWS_FOR_VERDICT = 2;

/** A 95 % confidence interval. */
export interface Interval {
  low: number;
  high: number;
}

export type AbVerdict = 'better' | 'worse' | 'not_yet_known';

export interface AbVersionSummary {
  version: string;
  rows: number;
  /** Null while the version has no attributed rows. */
  meanScore: number | null;
  /** 95 % interval of the mean; null below MIN_ROWS_FOR_VERDICT rows. */
  interval: Interval | null;
  /** The version's weight in the current deployment (0 when it is not deployed). */
  weight: number;
}

export interface AbComparison {
  version: string;
  control: string;
  /** Mean score of `version` minus that of `control`; null while either has no rows. */
  difference: number | null;
  interval: Interval | null;
  verdict: AbVerdict;
}

export interface AbReport {
  /** The version the others are compared against. */
  control: string | null;
  versions: AbVersionSummary[];
  comparisons: AbComparison[];
}

function meanInterval(s: VersionScoreStats): Interval | null {
  if (s.count < MIN_ROWS_FOR_VERDICT || s.variance === null) return null;
  const half = tCritical95(s.count - 1) * Math.sqrt(s.variance / s.count);
  return { low: s.mean - half, high: s.mean + half };
}

/** Welch's interval of mean(a) − mean(b). */
export function welchInterval(a: VersionScoreStats, b: VersionScoreStats): Interval | null {
  if (a.count < MIN_ROWS_FOR_VERDICT || b.count < MIN_ROWS_FOR_VERDICT || a.variance === null || b.variance === null) return null;
  const va = a.variance / a.count;
  const vb = b.variance / b.count;
  const diff = a.mean - b.mean;
  const se2 = va + vb;
  if (se2 === 0) return { low: diff, high: diff }; // both constant: the difference is known exactly
  const df = se2 ** 2 / (va ** 2 / (a.count - 1) + vb ** 2 / (b.count - 1));
  const half = tCritical95(df) * Math.sqrt(se2);
  return { low: diff - half, high: diff + half };
}

function verdictOf(interval: Interval | null): AbVerdict {
  if (interval === null) return 'not_yet_known';
  if (interval.low > 0) return 'better';
  if (interval.high < 0) return 'worse';
  return 'not_yet_known';
}

const versionNumber = (label: string) => Number(label.replace(/^v/, ''));

/**
 * The control: `requested` when given; else the deployed variant with the largest weight
 * (the incumbent of a 90/10 split); else the oldest version with rows.
 */
function chooseControl(stats: readonly VersionScoreStats[], weights: ReadonlyMap<string, number>, requested: string | null): string | null {
  if (requested !== null) return requested;
  const deployed = [...weights.entries()].sort((a, b) => b[1] - a[1] || versionNumber(a[0]) - versionNumber(b[0]));
  if (deployed.length > 0) return deployed[0][0];
  const withRows = [...stats].sort((a, b) => versionNumber(a.version) - versionNumber(b.version));
  return withRows[0]?.version ?? null;
}

export function abReport(stats: readonly VersionScoreStats[], weights: ReadonlyMap<string, number>, requestedControl: string | null = null): AbReport {
  const control = chooseControl(stats, weights, requestedControl);
  const byVersion = new Map(stats.map((s) => [s.version, s]));
  const labels = new Set([...stats.map((s) => s.version), ...weights.keys()]);
  const ordered = [...labels].sort((a, b) => versionNumber(a) - versionNumber(b));
  const empty = (version: string): VersionScoreStats => ({ version, count: 0, mean: 0, variance: null });
  const versions = ordered.map((version) => {
    const s = byVersion.get(version) ?? empty(version);
    return { version, rows: s.count, meanScore: s.count > 0 ? s.mean : null, interval: meanInterval(s), weight: weights.get(version) ?? 0 };
  });
  const comparisons: AbComparison[] = [];
  if (control !== null) {
    const c = byVersion.get(control) ?? empty(control);
    for (const version of ordered) {
      if (version === control) continue;
      const s = byVersion.get(version) ?? empty(version);
      const interval = welchInterval(s, c);
      comparisons.push({ version, control, difference: s.count > 0 && c.count > 0 ? s.mean - c.mean : null, interval, verdict: verdictOf(interval) });
    }
  }
  return { control, versions, comparisons };
}
