/** The training heartbeatTimeout the workflow derives from its input (pure; scheduled values: training-run.test.ts). */
import { BASE_MODEL_TRAINING_HEARTBEAT_TIMEOUT_MS, TRAINING_HEARTBEAT_TIMEOUT_MS, trainingHeartbeatTimeoutMs } from '../../workflows/training-run';

describe('trainingHeartbeatTimeoutMs', () => {
  it('defaults by preset: 10 s for quick and small, 60 s for medium', () => {
    expect(trainingHeartbeatTimeoutMs({ preset: 'quick' })).toBe(10_000);
    expect(trainingHeartbeatTimeoutMs({ preset: 'small' })).toBe(10_000);
    expect(trainingHeartbeatTimeoutMs({ preset: 'medium' })).toBe(60_000);
    expect(TRAINING_HEARTBEAT_TIMEOUT_MS.medium).toBe(60_000);
  });

  it('is 300 s on a Hugging Face base, whatever the preset', () => {
    expect(trainingHeartbeatTimeoutMs({ preset: 'quick', baseModelDir: '/bases/gpt2' })).toBe(BASE_MODEL_TRAINING_HEARTBEAT_TIMEOUT_MS);
    expect(BASE_MODEL_TRAINING_HEARTBEAT_TIMEOUT_MS).toBe(300_000);
  });

  it("takes the input's value over any default", () => {
    expect(trainingHeartbeatTimeoutMs({ preset: 'medium', trainingHeartbeatTimeoutMs: 15_000 })).toBe(15_000);
    expect(trainingHeartbeatTimeoutMs({ preset: 'quick', baseModelDir: '/bases/gpt2', trainingHeartbeatTimeoutMs: 20_000 })).toBe(20_000);
  });

  it('rejects a value under 1 s or not whole ms as a non-retryable InvalidConfig', () => {
    for (const bad of [0, 999, 1500.5, Number.NaN]) {
      expect(() => trainingHeartbeatTimeoutMs({ preset: 'quick', trainingHeartbeatTimeoutMs: bad })).toThrow(
        expect.objectContaining({ type: 'InvalidConfig', nonRetryable: true }),
      );
    }
  });
});
