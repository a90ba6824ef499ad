/** The pure progress arithmetic of the training workflow (ETA from measured chunk time). */
import { estimateRemainingMs, msPerUpdate, nextChunkSize } from '../../workflows/progress';

describe('msPerUpdate', () => {
  it('is null before any chunk ran', () => {
    expect(msPerUpdate([])).toBeNull();
  });

  it('divides total time by total updates, so a short last chunk weighs by its size', () => {
    expect(msPerUpdate([{ updates: 4, durationMs: 4000 }, { updates: 1, durationMs: 2000 }])).toBe(1200);
  });

  it('uses only the most recent chunks', () => {
    const timings = [{ updates: 2, durationMs: 100_000 }, ...Array.from({ length: 5 }, () => ({ updates: 2, durationMs: 2000 }))];
    expect(msPerUpdate(timings, 5)).toBe(1000);
  });
});

describe('estimateRemainingMs', () => {
  it('multiplies the measured speed by the updates left', () => {
    expect(estimateRemainingMs([{ updates: 5, durationMs: 10_000 }], 5, 20)).toBe(30_000);
  });

  it('is unknown before a chunk is measured and zero when nothing remains', () => {
    expect(estimateRemainingMs([], 0, 20)).toBeNull();
    expect(estimateRemainingMs([], 20, 20)).toBe(0);
  });
});

describe('nextChunkSize', () => {
  it.each([
    [0, 20, 5, 5],
    [18, 20, 5, 2],
    [20, 20, 5, 0],
  ])('done %i of %i in chunks of %i → %i', (done, total, per, expected) => {
    expect(nextChunkSize(done, total, per)).toBe(expected);
  });
});
