/**
 * A run's config made to fit its feedback (issue 11), in the one order every caller needs: split
 * the rows with the run's seed, train the BPE tokenizer on the training split (when the config
 * asks for one; ml/run-tokenizer.ts), then derive the block and generation lengths from all rows
 * in that tokenizer's tokens (spec/data-lengths.ts). `splitDataset` stores the result; the API's
 * dry run shows it without storing. A pure function of (config, rows): a retry gets the same.
 */
import { applyDataLengths, type DataLengths } from './data-lengths';
import { splitTrainVal, type FeedbackExample, type TrainValSplit } from './train-val-split';
import type { RunConfig } from './run-config';
import { Rng } from '../ml/rng';
import { runTokenizer, usesBaseTokenizer, withTrainedTokenizer } from '../ml/run-tokenizer';

export interface DataAwareConfig {
  config: RunConfig;
  /** null: the config keeps its own lengths (a base run, or `lengthsFromData` off). */
  lengths: DataLengths | null;
  split: TrainValSplit<FeedbackExample>;
}

/** Throws ConfigError (naming the field and the numbers) when the data cannot fit the model. */
export function dataAwareConfig(cfg: RunConfig, rows: readonly FeedbackExample[]): DataAwareConfig {
  const split = splitTrainVal(rows, cfg.valFraction, new Rng(cfg.seed));
  // A base's tokenizer is in its directory; its token lengths are only known to the workers that load it.
  if (usesBaseTokenizer(cfg)) return { config: cfg, lengths: null, split };
  const withTokenizer = withTrainedTokenizer(cfg, split.train);
  const { config, lengths } = applyDataLengths(withTokenizer, rows, runTokenizer(withTokenizer), { fixedBlock: false });
  return { config, lengths, split };
}
