import {
  applyTemperature,
  argmax,
  sampleFromLogits,
  sampleIndex,
  softmax,
  topKFilter,
  topPFilter,
} from '../../ml/filtering';
import { Rng } from '../../ml/rng';

const NEG_INF = Number.NEGATIVE_INFINITY;
/** Logits whose softmax is exactly the given distribution (up to float rounding). */
const logitsOf = (probs: number[]): Float32Array => Float32Array.from(probs.map(Math.log));
const keptIndices = (row: Float32Array): number[] =>
  Array.from(row.keys()).filter((i) => row[i] !== NEG_INF);

describe('applyTemperature', () => {
  it('divides every logit by the temperature', () => {
    expect(Array.from(applyTemperature([2, -1, 0.5], 0.5))).toEqual([4, -2, 1]);
  });

  it('temperature 0 keeps only the arg-max (first on ties)', () => {
    expect(Array.from(applyTemperature([1, 3, 3, -2], 0))).toEqual([NEG_INF, 3, NEG_INF, NEG_INF]);
  });

  it('rejects a negative or non-finite temperature', () => {
    expect(() => applyTemperature([1], -0.1)).toThrow(RangeError);
    expect(() => applyTemperature([1], Number.NaN)).toThrow(RangeError);
  });

  it('does not mutate its input', () => {
    const row = Float32Array.from([1, 2]);
    applyTemperature(row, 2);
    expect(Array.from(row)).toEqual([1, 2]);
  });
});

describe('topKFilter', () => {
  it('keeps the k largest logits, hand-computed', () => {
    const out = topKFilter([0.1, 2, -1, 1.5, 0.3], 2);
    expect(Array.from(out)).toEqual([NEG_INF, 2, NEG_INF, 1.5, NEG_INF]);
  });

  it('keeps every token tied with the k-th value', () => {
    const out = topKFilter([1, 3, 2, 2, 0], 2);
    expect(keptIndices(out)).toEqual([1, 2, 3]);
  });

  it('k = 0 and k >= V leave the row unchanged', () => {
    expect(Array.from(topKFilter([1, 2, 3], 0))).toEqual([1, 2, 3]);
    expect(Array.from(topKFilter([1, 2, 3], 3))).toEqual([1, 2, 3]);
    expect(Array.from(topKFilter([1, 2, 3], 10))).toEqual([1, 2, 3]);
  });

  it('k = 1 is greedy', () => {
    expect(keptIndices(topKFilter([0.2, -4, 7, 6.9], 1))).toEqual([2]);
  });
});

describe('topPFilter', () => {
  // probs [0.5, 0.3, 0.15, 0.05]: cumulative mass of the sorted tokens is 0.5, 0.8, 0.95, 1.
  const probs = [0.15, 0.5, 0.05, 0.3]; // shuffled so the filter must sort
  const logits = logitsOf(probs);

  it('p = 0.8 keeps 2 tokens (0.5 + 0.3 reaches 0.8)', () => {
    expect(keptIndices(topPFilter(logits, 0.8))).toEqual([1, 3]);
  });

  it('p = 0.81 keeps 3 tokens', () => {
    expect(keptIndices(topPFilter(logits, 0.81))).toEqual([0, 1, 3]);
  });

  it('p = 0.5 keeps exactly the top token, p = 0.51 keeps 2', () => {
    expect(keptIndices(topPFilter(logits, 0.5))).toEqual([1]);
    expect(keptIndices(topPFilter(logits, 0.51))).toEqual([1, 3]);
  });

  it('always keeps the most likely token, even for a tiny p', () => {
    expect(keptIndices(topPFilter(logits, 1e-9))).toEqual([1]);
  });

  it('p = 1 keeps everything; p outside (0, 1] is rejected', () => {
    expect(keptIndices(topPFilter(logits, 1))).toEqual([0, 1, 2, 3]);
    expect(() => topPFilter(logits, 0)).toThrow(RangeError);
    expect(() => topPFilter(logits, 1.5)).toThrow(RangeError);
  });

  it('kept logits keep their values (renormalisation is left to softmax)', () => {
    const out = topPFilter(logits, 0.8);
    expect(out[1]).toBe(logits[1]);
    expect(out[3]).toBe(logits[3]);
  });

  it('matches the HF definition (drop ascending cumulative mass <= 1 - p) on random rows', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 200; trial++) {
      const row = Float32Array.from({ length: 12 }, () => rng.normal() * 2);
      const p = 0.05 + 0.9 * rng.next();
      const pr = softmax(row);
      const asc = Array.from(pr.keys()).sort((a, b) => pr[a] - pr[b]);
      const expected = new Set<number>();
      let cum = 0;
      asc.forEach((idx, rank) => {
        cum += pr[idx];
        if (cum > 1 - p || rank === asc.length - 1) expected.add(idx);
      });
      expect(new Set(keptIndices(topPFilter(row, p)))).toEqual(expected);
    }
  });
});

describe('softmax', () => {
  it('matches the naive formula and sums to 1', () => {
    const row = [1, 2, 3];
    const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
    const out = softmax(row);
    [1, 2, 3].forEach((x, i) => expect(out[i]).toBeCloseTo(Math.exp(x) / z, 12));
  });

  it('is stable for huge logits and gives -Infinity zero mass', () => {
    const out = softmax([1000, 1000, NEG_INF]);
    expect(Array.from(out)).toEqual([0.5, 0.5, 0]);
  });

  it('rejects a row with no finite logit', () => {
    expect(() => softmax([NEG_INF, NEG_INF])).toThrow(RangeError);
  });
});

describe('sampleIndex', () => {
  it('walks the CDF: u = next() * total picks the first index whose cumulative mass exceeds u', () => {
    const probs = [0.1, 0.0, 0.6, 0.3];
    const rng = new Rng(3);
    const twin = new Rng(3);
    for (let i = 0; i < 50; i++) {
      const u = twin.next();
      const expected = u < 0.1 ? 0 : u < 0.7 ? 2 : 3;
      expect(sampleIndex(probs, rng)).toBe(expected);
    }
  });

  it('empirical frequencies match the distribution (seeded, 20k draws)', () => {
    const probs = [0.5, 0.3, 0.15, 0.05];
    const rng = new Rng(11);
    const counts = [0, 0, 0, 0];
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[sampleIndex(probs, rng)]++;
    // 4 standard errors of a binomial proportion at n = 20k is at most 0.0142.
    probs.forEach((p, i) => expect(Math.abs(counts[i] / n - p)).toBeLessThan(0.0142));
  });

  it('never draws a zero-probability token and accepts unnormalised mass', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 500; i++) expect([1, 3]).toContain(sampleIndex([0, 2, 0, 6, 0], rng));
  });

  it('rejects negative, NaN or all-zero probabilities', () => {
    const rng = new Rng(1);
    expect(() => sampleIndex([0.5, -0.1], rng)).toThrow(RangeError);
    expect(() => sampleIndex([Number.NaN, 1], rng)).toThrow(RangeError);
    expect(() => sampleIndex([0, 0], rng)).toThrow(RangeError);
  });
});

describe('sampleFromLogits', () => {
  it('temperature 0 returns the arg-max and draws nothing from the Rng', () => {
    const rng = new Rng(9);
    const before = rng.getState();
    expect(sampleFromLogits([0.1, 5, 4.9], { temperature: 0, topK: 0, topP: 1 }, rng)).toBe(1);
    expect(rng.getState()).toEqual(before);
    expect(argmax([0.1, 5, 4.9])).toBe(1);
  });

  it('top-k 3 then top-p 0.7 never picks outside the filtered set', () => {
    const rng = new Rng(2);
    const logits = logitsOf([0.4, 0.05, 0.35, 0.2]);
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) seen.add(sampleFromLogits(logits, { temperature: 1, topK: 3, topP: 0.7 }, rng));
    expect(seen).toEqual(new Set([0, 2]));
  });

  it('is reproducible from the seed', () => {
    const logits = logitsOf([0.25, 0.25, 0.25, 0.25]);
    const draw = (seed: number): number[] => {
      const rng = new Rng(seed);
      return Array.from({ length: 20 }, () => sampleFromLogits(logits, { temperature: 1.3, topK: 0, topP: 1 }, rng));
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });
});
