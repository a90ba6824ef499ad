/**
 * Timing statistics for the benches: every figure is the median of ≥ 5 runs with its min-max
 * spread, and every comparison a ratio against a baseline measured in the same process.
 */

export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number;
  /** (max − min) / median, in percent: how noisy the shared machine was for this figure. */
  spreadPct: number;
}

export function summarize(xs: readonly number[]): Summary {
  if (xs.length === 0) throw new RangeError('summarize: no samples');
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], runs: s.length, spreadPct: median === 0 ? 0 : (100 * (s[s.length - 1] - s[0])) / median };
}

/** Wall-clock seconds of one call. */
export async function timeSeconds(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/**
 * Wall-clock and this process's CPU seconds (user + system, all threads) of one call. On a
 * shared machine CPU time is far less sensitive to other processes' load than wall time.
 */
export async function timeWallAndCpu(fn: () => unknown): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

/** `warmup` unmeasured calls, then `runs` measured ones; returns each measured call's value. */
export async function repeat(runs: number, fn: () => Promise<number> | number, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) out.push(await fn());
  return out;
}

/**
 * Interleaves a baseline and a candidate (A B A B ...), so slow phases of the shared machine
 * hit both alike; returns the per-pair ratios candidate / baseline and both sample lists.
 */
export async function pairedRatios(
  runs: number,
  baseline: () => Promise<number>,
  candidate: () => Promise<number>,
): Promise<{ baseline: number[]; candidate: number[]; ratios: number[] }> {
  const b: number[] = [];
  const c: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Alternate which goes first, so neither always runs on a warmer cache.
    if (i % 2 === 0) {
      b.push(await baseline());
      c.push(await candidate());
    } else {
      c.push(await candidate());
      b.push(await baseline());
    }
  }
  return { baseline: b, candidate: c, ratios: c.map((x, i) => x / b[i]) };
}

/** Least-squares slope of y over x (units of y per unit of x). */
export function linearSlope(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length || xs.length < 2) throw new RangeError('linearSlope: need ≥ 2 paired points');
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** `1.23 (1.10–1.40)`: a median with its range, at `digits` decimals. */
export function fmtSummary(s: Summary, digits = 2): string {
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}
