import { estimateDryRun, FLOPS_PER_SECOND_BY_BACKEND, nonEmbeddingParameters, workerBackendOf } from '../../api/dry-run-estimate';
import { resolveRunConfig } from '../../spec/run-config';

describe('estimateDryRun', () => {
  it('matches the documented formula worked by hand for the quick preset', () => {
    const cfg = resolveRunConfig('quick', { maxSteps: 10 });
    // quick: both models nLayer 2, nEmbd 48 → N = 12·2·48² = 55296; T = 64; 100 rows → 80 train rows,
    // and 0.25 × 80 = 20 synthesised negatives for the reward model (cap 40 epochs); SFT's cap is 40 epochs.
    const n = 55296;
    expect(nonEmbeddingParameters(cfg.policyModel)).toBe(n);
    const reward = 40 * (80 + 20) * 64 * 6 * n;
    const sft = 40 * 80 * 64 * 6 * n;
    const perUpdate = 16 * 16 * 2 * n + 16 * 64 * 2 * (3 * n) + 4 * 16 * 64 * 6 * n;
    const flops = reward + sft + 10 * perUpdate;
    const est = estimateDryRun(cfg, 100, 1e9);
    expect(est.estimatedFlops).toBe(flops);
    expect(est.estimatedTimeMinutes).toBeCloseTo(flops / 1e9 / 60, 2);
    expect(est.estimatedSteps).toBe(10);
    // batch 16 / mini-batch 8 = 2 optimizer steps per epoch, 4 epochs, 10 updates.
    expect(est.estimatedOptimizerSteps).toBe(80);
  });

  it('grows with the number of updates and the model size', () => {
    const small = estimateDryRun(resolveRunConfig('quick', { maxSteps: 10 }), 100);
    const longer = estimateDryRun(resolveRunConfig('quick', { maxSteps: 20 }), 100);
    const bigger = estimateDryRun(resolveRunConfig('medium', { maxSteps: 10 }), 100);
    expect(longer.estimatedFlops).toBeGreaterThan(small.estimatedFlops);
    expect(bigger.estimatedFlops).toBeGreaterThan(small.estimatedFlops);
  });
});

describe('the workers\' backend sets the rate', () => {
  it('is RLHF_WORKER_BACKEND, else RLHF_BACKEND, else wasm with RLHF_NATIVE=0, else tensorflow', () => {
    expect(workerBackendOf({ RLHF_WORKER_BACKEND: 'tensorflow-gpu', RLHF_BACKEND: 'wasm' })).toBe('tensorflow-gpu');
    expect(workerBackendOf({ RLHF_BACKEND: 'wasm' })).toBe('wasm');
    expect(workerBackendOf({ RLHF_NATIVE: '0' })).toBe('wasm');
    expect(workerBackendOf({})).toBe('tensorflow');
  });

  it('native workers make the same run shorter than WASM ones, by the ratio of their rates', () => {
    const cfg = resolveRunConfig('quick', { maxSteps: 10 });
    const wasm = estimateDryRun(cfg, 100, FLOPS_PER_SECOND_BY_BACKEND.wasm);
    const native = estimateDryRun(cfg, 100, FLOPS_PER_SECOND_BY_BACKEND.tensorflow);
    expect(native.estimatedFlops).toBe(wasm.estimatedFlops);
    expect(native.estimatedTimeMinutes).toBeLessThan(wasm.estimatedTimeMinutes);
    expect(native.estimatedTimeMinutes / wasm.estimatedTimeMinutes).toBeCloseTo(FLOPS_PER_SECOND_BY_BACKEND.wasm / FLOPS_PER_SECOND_BY_BACKEND.tensorflow, 1);
  });
});
