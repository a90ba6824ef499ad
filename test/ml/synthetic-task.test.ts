import { Rng } from '../../ml/rng';
import {
  makeSyntheticFeedback,
  SYNTHETIC_CONSONANTS,
  SYNTHETIC_MAX_RESPONSE_LENGTH,
  SYNTHETIC_VOWELS,
  syntheticPrompts,
  trueScore,
} from '../../ml/synthetic-task';

/** Naive Pearson correlation (reference, independent of ml/stats). */
function pearson(a: number[], b: number[]): number {
  const ma = a.reduce((s, x) => s + x, 0) / a.length;
  const mb = b.reduce((s, x) => s + x, 0) / b.length;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < a.length; i++) {
    cov += (a[i] - ma) * (b[i] - mb);
    va += (a[i] - ma) ** 2;
    vb += (b[i] - mb) ** 2;
  }
  return cov / Math.sqrt(va * vb);
}
const meanOf = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('trueScore', () => {
  it('is the fraction of vowel characters, hand-computed', () => {
    expect(trueScore('Q1: ', 'banana')).toBeCloseTo(3 / 6, 12);
    expect(trueScore('Q1: ', 'aeiou')).toBe(1);
    expect(trueScore('Q1: ', 'xyz')).toBe(0);
    expect(trueScore('Q1: ', '')).toBe(0);
    // Upper case, spaces and other characters count as non-vowels.
    expect(trueScore('Q1: ', 'A a!')).toBeCloseTo(1 / 4, 12);
    // Characters, not bytes: 'é' is one (non-vowel) character.
    expect(trueScore('Q1: ', 'éa')).toBeCloseTo(1 / 2, 12);
  });

  it('does not depend on the prompt and stays in [0, 1]', () => {
    const rng = new Rng(2);
    for (let i = 0; i < 300; i++) {
      const response = String.fromCharCode(...Array.from({ length: rng.int(20) }, () => 32 + rng.int(95)));
      const s = trueScore('Q3: ', response);
      expect(s).toBe(trueScore('Q77: ', response));
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(1);
    }
  });
});

describe('syntheticPrompts', () => {
  it('gives "Q<n>: " prompts with n in 0..99, reproducibly', () => {
    const ps = syntheticPrompts(500, new Rng(1));
    for (const p of ps) expect(p).toMatch(/^Q([0-9]|[1-9][0-9]): $/);
    expect(new Set(ps).size).toBeGreaterThan(90);
    expect(syntheticPrompts(20, new Rng(1))).toEqual(ps.slice(0, 20));
  });
});

describe('makeSyntheticFeedback', () => {
  const rows = makeSyntheticFeedback(2000, new Rng(123));

  it('is reproducible from the seed', () => {
    expect(makeSyntheticFeedback(50, new Rng(123))).toEqual(rows.slice(0, 50));
    expect(makeSyntheticFeedback(50, new Rng(124))).not.toEqual(rows.slice(0, 50));
  });

  it('responses are 4..16 lowercase letters and prompts end in the delimiter', () => {
    const letters = new RegExp(`^[${SYNTHETIC_VOWELS}${SYNTHETIC_CONSONANTS}]{4,${SYNTHETIC_MAX_RESPONSE_LENGTH}}$`);
    for (const r of rows) {
      expect(r.response).toMatch(letters);
      expect(r.prompt.endsWith(': ')).toBe(true);
    }
    const lengths = new Set(rows.map((r) => r.response.length));
    expect(Math.min(...lengths)).toBe(4);
    expect(Math.max(...lengths)).toBe(16);
  });

  it('true scores spread over [0, 1] with mean about 0.5 (the documented data baseline)', () => {
    const t = rows.map((r) => trueScore(r.prompt, r.response));
    expect(Math.abs(meanOf(t) - 0.5)).toBeLessThan(0.03);
    expect(t.filter((x) => x < 0.2).length).toBeGreaterThan(200);
    expect(t.filter((x) => x > 0.8).length).toBeGreaterThan(200);
  });

  it('noisy scores track the true score (Pearson about 0.95 at noiseStd 0.1)', () => {
    const t = rows.map((r) => trueScore(r.prompt, r.response));
    const s = rows.map((r) => r.score);
    const r = pearson(t, s);
    expect(r).toBeGreaterThan(0.93);
    expect(r).toBeLessThan(0.98); // the noise is really there
    const residualStd = Math.sqrt(meanOf(t.map((x, i) => (s[i] - x) ** 2)));
    expect(Math.abs(residualStd - 0.1)).toBeLessThan(0.01);
  });

  it('noiseStd 0 gives the true score exactly, mapped onto [scoreMin, scoreMax]', () => {
    const exact = makeSyntheticFeedback(100, new Rng(9), { noiseStd: 0, scoreMin: 1, scoreMax: 5 });
    for (const r of exact) expect(r.score).toBeCloseTo(1 + 4 * trueScore(r.prompt, r.response), 12);
  });

  it('scoreNoiseOnly scores are uniform on the scale and independent of the text', () => {
    const noise = makeSyntheticFeedback(2000, new Rng(123), { scoreNoiseOnly: true, scoreMin: -1, scoreMax: 1 });
    const t = noise.map((r) => trueScore(r.prompt, r.response));
    const s = noise.map((r) => r.score);
    // |r| < 0.1 is 4.5 standard errors at n = 2000.
    expect(Math.abs(pearson(t, s))).toBeLessThan(0.1);
    expect(Math.min(...s)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...s)).toBeLessThan(1);
    expect(Math.abs(meanOf(s))).toBeLessThan(0.05);
  });

  it('rejects bad options', () => {
    expect(() => makeSyntheticFeedback(-1, new Rng(1))).toThrow(RangeError);
    expect(() => makeSyntheticFeedback(5, new Rng(1), { noiseStd: -0.1 })).toThrow(RangeError);
    expect(() => makeSyntheticFeedback(5, new Rng(1), { scoreMin: 2, scoreMax: 2 })).toThrow(RangeError);
  });
});

describe('documented baselines', () => {
  it('uniform random lowercase letters score about 5/26', () => {
    const rng = new Rng(8);
    const alphabet = SYNTHETIC_VOWELS + SYNTHETIC_CONSONANTS;
    const scores = Array.from({ length: 3000 }, () =>
      trueScore('Q0: ', Array.from({ length: 16 }, () => alphabet[rng.int(26)]).join('')),
    );
    expect(Math.abs(meanOf(scores) - 5 / 26)).toBeLessThan(0.01);
  });

  it('uniform random bytes (an untrained byte-level policy) score about 5/256', () => {
    const rng = new Rng(8);
    const scores = Array.from({ length: 3000 }, () =>
      trueScore('Q0: ', Buffer.from(Array.from({ length: 16 }, () => rng.int(256))).toString('utf8')),
    );
    expect(meanOf(scores)).toBeGreaterThan(0.01);
    expect(meanOf(scores)).toBeLessThan(0.03);
  });
});
