import { ConfigError, derivePpoSizes, PRESETS, resolveRunConfig, validateRunConfig } from '../../spec/run-config';

describe('run config', () => {
  test('derived PPO sizes: batch / (mini-batch × accumulation)', () => {
    const sizes = derivePpoSizes({ ...PRESETS.quick.ppo, batchSize: 16, miniBatchSize: 4, gradientAccumulationSteps: 2, ppoEpochs: 4 });
    expect(sizes).toEqual({ backwardBatchSize: 8, optimizerStepsPerEpoch: 2, optimizerStepsPerUpdate: 8 });
  });

  test('an indivisible batch names the field and the fix', () => {
    try {
      derivePpoSizes({ ...PRESETS.quick.ppo, batchSize: 10, miniBatchSize: 4, gradientAccumulationSteps: 1 });
      throw new Error('expected ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).field).toBe('ppo.batchSize');
      expect((err as Error).message).toMatch(/change batchSize to (8|12)/);
    }
  });

  test('overrides produce a copy and never touch the preset', () => {
    const before = JSON.stringify(PRESETS.quick);
    const cfg = resolveRunConfig('quick', { maxSteps: 3, learningRate: 1e-4, seed: 9 });
    expect(cfg.ppo.totalUpdates).toBe(3);
    expect(cfg.ppo.optim.learningRate).toBe(1e-4);
    expect(cfg.seed).toBe(9);
    expect(JSON.stringify(PRESETS.quick)).toBe(before);
  });

  test('every preset validates', () => {
    for (const name of Object.keys(PRESETS) as Array<keyof typeof PRESETS>) expect(() => resolveRunConfig(name)).not.toThrow();
  });

  test('unknown preset is a ConfigError on the preset field', () => {
    expect(() => resolveRunConfig('huge' as never)).toThrow(/unknown preset 'huge'/);
  });

  test('a policy without LoRA adapters is refused: its reference would be itself (KL always 0)', () => {
    const cfg = resolveRunConfig('quick');
    cfg.policyModel.lora = { rank: 0, alpha: 0, dropout: 0 };
    expect(() => validateRunConfig(cfg)).toThrow(expect.objectContaining({ name: 'ConfigError', field: 'policyModel.lora.rank' }));
    // The reward model may go without adapters: it has no reference.
    const rm = resolveRunConfig('quick');
    rm.reward.model.lora = { rank: 0, alpha: 0, dropout: 0 };
    expect(() => validateRunConfig(rm)).not.toThrow();
  });
});
