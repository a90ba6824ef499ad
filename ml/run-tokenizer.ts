/**
 * The tokenizer of a run, as its config states it (issue 11):
 * - `byte`: UTF-8 bytes (ml/tokenizer.ts). Stored configs without a `tokenizer` field mean this.
 * - `bpe`: a byte-level BPE vocabulary trained on the run's own training split
 *   (ml/bpe-training.ts). The presets ask for it with a target `vocabSize`; `splitDataset` trains
 *   it once and writes its merges into the stored config, so every later activity, retry and
 *   resume rebuilds the same tokenizer from the config alone, and the model's vocabulary size is
 *   the tokenizer's.
 * - `base`: a Hugging Face base's own tokenizer, read from the base directory by the workers.
 */
import { bpeTokenizerFromMerges, mergeStrings, trainBpeTokenizer } from './bpe-training';
import { BYTE_VOCAB_SIZE, ConfigError, type RunConfig } from '../spec/run-config';
import type { FeedbackExample } from '../spec/train-val-split';
import { ByteTokenizer, type Tokenizer } from './tokenizer';

/** Whether the run starts from a Hugging Face base (its tokenizer and lengths are the base's). */
export function usesBaseTokenizer(cfg: RunConfig): boolean {
  // Configs stored before the `tokenizer` field: a base run is the one whose vocabulary is not bytes.
  return cfg.tokenizer?.kind === 'base' || (cfg.tokenizer === undefined && cfg.policyModel.vocabSize !== BYTE_VOCAB_SIZE);
}

/**
 * The config with its BPE tokenizer trained on `trainRows` (prompts and responses), merges stored
 * and both models' vocabulary sizes set to the tokenizer's; `cfg` itself when there is nothing to
 * train (byte, base, or merges already there: a retry gets the same config).
 */
export function withTrainedTokenizer(cfg: RunConfig, trainRows: readonly FeedbackExample[]): RunConfig {
  const t = cfg.tokenizer;
  if (t?.kind !== 'bpe' || t.merges !== undefined) return cfg;
  const tok = trainBpeTokenizer(
    trainRows.flatMap((r) => [r.prompt, r.response]),
    { vocabSize: t.vocabSize },
  );
  const out = structuredClone(cfg);
  out.tokenizer = { kind: 'bpe', vocabSize: t.vocabSize, merges: mergeStrings(tok) };
  out.policyModel = { ...out.policyModel, vocabSize: tok.vocabSize };
  out.reward = { ...out.reward, model: { ...out.reward.model, vocabSize: tok.vocabSize } };
  return out;
}

/**
 * The tokenizer a from-scratch run's config names. Throws ConfigError for a base run (its
 * tokenizer is in the base directory) and for a BPE setting not yet trained.
 */
export function runTokenizer(cfg: RunConfig): Tokenizer {
  const t = cfg.tokenizer;
  if (usesBaseTokenizer(cfg)) throw new ConfigError('a run on a base model uses the base directory\'s tokenizer', 'tokenizer');
  if (t === undefined || t.kind === 'byte') return new ByteTokenizer();
  if (t.kind === 'bpe') {
    if (t.merges === undefined) throw new ConfigError('the BPE tokenizer has not been trained yet (splitDataset trains it)', 'tokenizer.merges');
    return bpeTokenizerFromMerges(t.merges);
  }
  throw new ConfigError(`tokenizer.kind ${JSON.stringify(t.kind)} has no tokenizer here`, 'tokenizer.kind');
}
