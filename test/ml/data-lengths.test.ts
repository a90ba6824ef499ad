import { PRESETS, effectiveKlHorizon, resolveRunConfig } from '../../spec/run-config';
import { applyDataLengths, deriveLengths, percentile } from '../../spec/data-lengths';
import { klEarlyStop } from '../../ml/ppo-update';
import { ByteTokenizer } from '../../ml/tokenizer';

const tok = new ByteTokenizer();
const rows = Array.from({ length: 100 }, (_, i) => ({ prompt: 'p'.repeat(10 + (i % 10)), response: 'r'.repeat(50 + i), score: i }));

describe('lengths from the data', () => {
  it('takes the 95th percentile of the token lengths, with room for EOS and BOS', () => {
    expect(percentile([5, 1, 4, 2, 3], 0.95)).toBe(5);
    const l = deriveLengths(rows, tok);
    expect(l).toEqual({ promptP95: 19, responseP5: 54, responseP95: 144, maxNewTokens: Math.ceil(145 * 1.1), minNewTokens: 27, blockSize: 192 });
  });

  it('sets the block and generation lengths of a preset, and refuses data that cannot fit naming the field and numbers', () => {
    const cfg = resolveRunConfig('quick');
    const { config } = applyDataLengths(cfg, rows, tok, { fixedBlock: false });
    expect(config.policyModel.blockSize).toBe(192);
    expect(config.reward.model.blockSize).toBe(192);
    expect(config.ppo.generation.maxNewTokens).toBe(160);
    expect(cfg.policyModel.blockSize).toBe(PRESETS.quick.policyModel.blockSize); // not mutated
    expect(() => applyDataLengths(cfg, rows, tok, { fixedBlock: true })).toThrow(
      /95th-percentile prompt 19 tokens \+ maxNewTokens 160 \+ BOS = 180 > policyModel.blockSize 64/,
    );
    expect(applyDataLengths({ ...cfg, lengthsFromData: false }, rows, tok, { fixedBlock: false }).lengths).toBeNull();
  });
});

describe('KL control that binds at this run length', () => {
  it('derives the adaptive horizon from the planned samples when klHorizon is 0', () => {
    expect(effectiveKlHorizon({ klHorizon: 0, batchSize: 16, totalUpdates: 20 })).toBe(32);
    expect(effectiveKlHorizon({ klHorizon: 10000, batchSize: 16, totalUpdates: 20 })).toBe(10000);
    expect(effectiveKlHorizon({ klHorizon: 0, batchSize: 16, totalUpdates: 3 })).toBe(16);
  });

  it('stops the update after an epoch whose mean approxkl passes 1.5 × targetKl (TRL early_stopping)', () => {
    const ppo = { earlyStopping: true, targetKl: 0.02 };
    expect(klEarlyStop(ppo, [{ approxKl: 0.02 }, { approxKl: 0.05 }])).toBe(true);
    expect(klEarlyStop(ppo, [{ approxKl: 0.02 }, { approxKl: 0.035 }])).toBe(false);
    expect(klEarlyStop({ earlyStopping: false, targetKl: 0.02 }, [{ approxKl: 5 }])).toBe(false);
  });
});
