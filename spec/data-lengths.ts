/**
 * Data-aware sequence lengths (issue 11): the block and the generation length come from the
 * feedback's own token lengths instead of a preset's constant (the `quick` preset's 16 new
 * tokens cut 60-110-byte replies to a sixth; its block of 64/128 cut the prompts).
 *
 * - maxNewTokens = the 95th percentile of response length + 1 (EOS), plus 10 % headroom;
 * - minNewTokens = half the 5th percentile of response length (at least 1): EOS is suppressed
 *   before it (ml/sampling), so the policy cannot reply with nothing;
 * - blockSize    = p95 prompt + maxNewTokens + 1 (BOS), rounded up to a multiple of 32.
 * A request's explicit values win. When the data cannot fit the model's position table, the
 * caller gets a ConfigError naming the field and the numbers (a 400 at the API).
 */
import { ConfigError, type RunConfig } from './run-config';
import type { FeedbackExample } from './train-val-split';
import type { Tokenizer } from '../ml/tokenizer';

export interface DataLengths {
  promptP95: number;
  responseP5: number;
  responseP95: number;
  maxNewTokens: number;
  minNewTokens: number;
  blockSize: number;
}

/** Nearest-rank percentile of `xs` (q in [0, 1]); 0 for an empty list. */
export function percentile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Token lengths of the rows (prompt without BOS, response without EOS) and the lengths derived from them. */
export function deriveLengths(rows: readonly FeedbackExample[], tok: Tokenizer): DataLengths {
  const prompts = rows.map((r) => tok.encode(r.prompt).length);
  const responses = rows.map((r) => tok.encode(r.response).length);
  const promptP95 = percentile(prompts, 0.95);
  const responseP5 = percentile(responses, 0.05);
  const responseP95 = percentile(responses, 0.95);
  const maxNewTokens = Math.max(2, Math.ceil((responseP95 + 1) * 1.1));
  return {
    promptP95,
    responseP5,
    responseP95,
    maxNewTokens,
    minNewTokens: Math.max(1, Math.floor(responseP5 / 2)),
    blockSize: Math.ceil((promptP95 + maxNewTokens + 1) / 32) * 32,
  };
}

/** Throws ConfigError when a p95 prompt plus `maxNewTokens` cannot fit `blockSize` (the model's cap). */
export function checkLengthsFit(lengths: Pick<DataLengths, 'promptP95'>, maxNewTokens: number, blockSize: number, field: string): void {
  const need = lengths.promptP95 + maxNewTokens + 1;
  if (need > blockSize) {
    throw new ConfigError(
      `the feedback does not fit the model: 95th-percentile prompt ${lengths.promptP95} tokens + maxNewTokens ${maxNewTokens} + BOS = ${need} > ${field} ${blockSize}; ` +
        'use a preset with a larger block, shorter feedback, or a smaller maxNewTokens',
      field,
    );
  }
}

/** Longest block a from-scratch byte model gets from the data (its position table and attention are O(T²)). */
export const MAX_DATA_BLOCK_SIZE = 1024;

/**
 * The config with lengths taken from the data (a copy; `cfg` is not changed), unless
 * `cfg.lengthsFromData` is false. A from-scratch model's block (policy and reward model) becomes
 * the derived one, capped at MAX_DATA_BLOCK_SIZE; a pretrained base keeps its block (its
 * position table), and the generation length must then fit it. Throws ConfigError naming the
 * field and the numbers when the data cannot fit.
 */
export function applyDataLengths(cfg: RunConfig, rows: readonly FeedbackExample[], tok: Tokenizer, opts: { fixedBlock: boolean }): { config: RunConfig; lengths: DataLengths | null } {
  if (cfg.lengthsFromData === false || rows.length === 0) return { config: cfg, lengths: null };
  const lengths = deriveLengths(rows, tok);
  const out = structuredClone(cfg);
  out.ppo.generation = { ...out.ppo.generation, maxNewTokens: lengths.maxNewTokens, minNewTokens: lengths.minNewTokens };
  if (opts.fixedBlock) {
    checkLengthsFit(lengths, lengths.maxNewTokens, cfg.policyModel.blockSize, 'policyModel.blockSize');
  } else {
    checkLengthsFit(lengths, lengths.maxNewTokens, MAX_DATA_BLOCK_SIZE, 'policyModel.blockSize');
    out.policyModel = { ...out.policyModel, blockSize: lengths.blockSize };
    out.reward = { ...out.reward, model: { ...out.reward.model, blockSize: lengths.blockSize } };
  }
  return { config: out, lengths };
}
