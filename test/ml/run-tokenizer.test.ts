import { BYTE_VOCAB_SIZE, resolveRunConfig, validateRunConfig, type RunConfig } from '../../spec/run-config';
import { dataAwareConfig } from '../../spec/data-aware-config';
import { BpeTokenizer } from '../../ml/hf/bpe-tokenizer';
import { runConfigForBase } from '../../spec/base-model';
import { Rng } from '../../ml/rng';
import { runTokenizer, usesBaseTokenizer, withTrainedTokenizer } from '../../ml/run-tokenizer';
import { makeSupportFeedback } from '../../ml/tasks/support-replies';
import { ByteTokenizer } from '../../ml/tokenizer';

const rows = makeSupportFeedback(200, new Rng(3));

describe('the tokenizer a run config names', () => {
  it('is bytes when the stored config predates the field, or says byte', () => {
    const cfg = resolveRunConfig('quick');
    delete cfg.tokenizer;
    expect(runTokenizer(cfg)).toBeInstanceOf(ByteTokenizer);
    expect(runTokenizer({ ...cfg, tokenizer: { kind: 'byte' } })).toBeInstanceOf(ByteTokenizer);
  });

  it('is trained on the training rows once: merges stored, both models sized to it, a retry unchanged', () => {
    const cfg = resolveRunConfig('quick');
    expect(cfg.tokenizer).toEqual({ kind: 'bpe', vocabSize: 512 });
    expect(() => runTokenizer(cfg)).toThrow(/not been trained/);
    const trained = withTrainedTokenizer(cfg, rows);
    const tok = runTokenizer(trained);
    expect(tok).toBeInstanceOf(BpeTokenizer);
    expect(trained.policyModel.vocabSize).toBe(tok.vocabSize);
    expect(trained.reward.model.vocabSize).toBe(tok.vocabSize);
    expect(cfg.policyModel.vocabSize).toBe(BYTE_VOCAB_SIZE); // the input is not changed
    expect(withTrainedTokenizer(trained, rows.slice(0, 10))).toBe(trained);
    // Survives the JSON round trip of the stored config.
    const stored = JSON.parse(JSON.stringify(trained)) as RunConfig;
    expect(runTokenizer(stored).encode(rows[0].response)).toEqual(tok.encode(rows[0].response));
    validateRunConfig(stored);
  });

  it('is the base directory\'s own for a run on a Hugging Face base', () => {
    const cfg = runConfigForBase(resolveRunConfig('quick'), { vocab_size: 50257, n_positions: 1024, n_embd: 64, n_layer: 2, n_head: 2, n_inner: null, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5 } as never);
    expect(usesBaseTokenizer(cfg)).toBe(true);
    expect(withTrainedTokenizer(cfg, rows)).toBe(cfg);
    expect(() => runTokenizer(cfg)).toThrow(/base/);
    // A config stored before the field: a non-byte vocabulary means a base.
    const legacy = { ...cfg, tokenizer: undefined };
    expect(usesBaseTokenizer(legacy)).toBe(true);
  });

  it('refuses a bad setting naming the field', () => {
    const cfg = resolveRunConfig('quick');
    expect(() => validateRunConfig({ ...cfg, tokenizer: { kind: 'bpe', vocabSize: 100 } })).toThrow(expect.objectContaining({ field: 'tokenizer.vocabSize' }));
    expect(() => validateRunConfig({ ...cfg, tokenizer: { kind: 'words' } as never })).toThrow(expect.objectContaining({ field: 'tokenizer.kind' }));
    expect(() => validateRunConfig({ ...cfg, tokenizer: { kind: 'bpe', vocabSize: 512, merges: [1] } as never })).toThrow(expect.objectContaining({ field: 'tokenizer.merges' }));
    expect(() => validateRunConfig({ ...cfg, tokenizer: { kind: 'bpe', vocabSize: 512, merges: ['ab cd'] } })).toThrow(expect.objectContaining({ field: 'tokenizer.merges' }));
  });
});

describe('dataAwareConfig', () => {
  it('splits with the run seed, trains the tokenizer on the training split only, then derives the lengths in its tokens', () => {
    const cfg = resolveRunConfig('quick', { seed: 7 });
    const { config, lengths, split } = dataAwareConfig(cfg, rows);
    expect(split.train.length + split.val.length).toBe(rows.length);
    expect(config.tokenizer).toEqual(withTrainedTokenizer(cfg, split.train).tokenizer);
    const tok = runTokenizer(config);
    const longest = Math.max(...rows.map((r) => tok.encode(r.response).length));
    expect(lengths).not.toBeNull();
    expect(lengths!.responseP95).toBeLessThanOrEqual(longest);
    // Words, not bytes: the support replies are 50-150 bytes but a few dozen tokens at most.
    expect(config.ppo.generation.maxNewTokens).toBeLessThan(60);
    expect(config.policyModel.blockSize).toBe(lengths!.blockSize);
    expect(dataAwareConfig(cfg, rows).config).toEqual(config); // a retry writes the same config
  });
});
