/**
 * Summary statistics on plain number arrays, for reward-model validation metrics and run
 * reports. All functions throw RangeError on empty input or mismatched lengths rather
 * than return NaN, so a bug upstream is not turned into a plausible-looking metric.
 */

function requireNonEmpty(name: string, xs: readonly number[]): void {
  if (xs.length === 0) throw new RangeError(`${name}: needs at least one value`);
}

function requireSameLength(name: string, a: readonly number[], b: readonly number[]): void {
  requireNonEmpty(name, a);
  if (a.length !== b.length) throw new RangeError(`${name}: arrays differ in length (${a.length} vs ${b.length})`);
}

export function mean(xs: readonly number[]): number {
  requireNonEmpty('mean', xs);
  let sum = 0;
  for (const x of xs) sum += x;
  return sum / xs.length;
}

/**
 * Standard deviation. Population (divide by n, numpy's default) unless `unbiased`, which
 * divides by n − 1 (Bessel) and needs two values.
 */
export function std(xs: readonly number[], unbiased = false): number {
  requireNonEmpty('std', xs);
  if (unbiased && xs.length < 2) throw new RangeError('std: the unbiased estimate needs at least two values');
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (unbiased ? xs.length - 1 : xs.length));
}

/** Mean squared error between predictions and targets. */
export function mse(pred: readonly number[], target: readonly number[]): number {
  requireSameLength('mse', pred, target);
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += (pred[i] - target[i]) ** 2;
  return s / pred.length;
}

/** Mean absolute error between predictions and targets. */
export function mae(pred: readonly number[], target: readonly number[]): number {
  requireSameLength('mae', pred, target);
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += Math.abs(pred[i] - target[i]);
  return s / pred.length;
}

/**
 * Pearson's correlation coefficient. 0 when either side is constant: no linear relation
 * can be measured, and a constant predictor must fail a correlation gate rather than
 * produce NaN (which JSON would turn into null). NaN when a value is not finite.
 */
export function pearson(a: readonly number[], b: readonly number[]): number {
  requireSameLength('pearson', a, b);
  const ma = mean(a);
  const mb = mean(b);
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    const da = a[i] - ma;
    const db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa === 0 || sbb === 0) return 0;
  // Rounding can push |r| a hair past 1.
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

/** 1-based ranks; tied values share the average of the ranks they span (fractional ranking). */
export function averageRanks(xs: readonly number[]): number[] {
  const order = xs.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
  const ranks = new Array<number>(xs.length);
  let start = 0;
  while (start < order.length) {
    let end = start;
    while (end + 1 < order.length && order[end + 1][0] === order[start][0]) end++;
    const rank = (start + end) / 2 + 1; // average of ranks start+1 .. end+1
    for (let k = start; k <= end; k++) ranks[order[k][1]] = rank;
    start = end + 1;
  }
  return ranks;
}

/**
 * Spearman's rank correlation: Pearson on average ranks (correct with ties). NaN when a
 * value is not finite (ranks of NaN are undefined), as Pearson gives NaN for such input.
 */
export function spearman(a: readonly number[], b: readonly number[]): number {
  requireSameLength('spearman', a, b);
  if (!a.every(Number.isFinite) || !b.every(Number.isFinite)) return NaN;
  return pearson(averageRanks(a), averageRanks(b));
}
