/**
 * The two-sided 95 % critical value of Student's t distribution, for confidence intervals of
 * mean scores on few rows (the A/B report). Exact closed forms for 1 and 2 degrees of freedom;
 * from 3 on, the Cornish–Fisher expansion of t in the normal quantile z (Abramowitz & Stegun
 * 26.7.5, terms to ν⁻⁴), within 4e-3 of the tabled value at ν = 3 and closer as ν grows.
 * Non-integer ν (Welch–Satterthwaite) below 3 takes the value of the integer below it, which is
 * larger: the interval errs wide.
 */

/** Φ⁻¹(0.975). */
export const Z_975 = 1.959963984540054;

export function tCritical95(df: number): number {
  if (!(df > 0) || !Number.isFinite(df)) throw new RangeError(`degrees of freedom must be a positive finite number, got ${df}`);
  if (df < 2) return 12.706204736174705; // tan(π · 0.475), ν = 1
  if (df < 3) return 4.302652729749464; // (2p − 1)/√(2p(1 − p)), p = 0.975, ν = 2
  const z = Z_975;
  const z2 = z * z;
  const g1 = (z2 * z + z) / 4;
  const g2 = (5 * z2 * z2 * z + 16 * z2 * z + 3 * z) / 96;
  const g3 = (3 * z2 ** 3 * z + 19 * z2 * z2 * z + 17 * z2 * z - 15 * z) / 384;
  const g4 = (79 * z2 ** 4 * z + 776 * z2 ** 3 * z + 1482 * z2 * z2 * z - 1920 * z2 * z - 945 * z) / 92160;
  return z + g1 / df + g2 / df ** 2 + g3 / df ** 3 + g4 / df ** 4;
}
