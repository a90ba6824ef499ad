/**
 * The file names of a Hugging Face GPT-2-family model directory, and the JSON reader every
 * reader of those files shares. No tensors here: the API reads a directory's `config.json`
 * (for a dry run's estimate) without loading TensorFlow.js, and the hub client downloads
 * by these names.
 */
import { promises as fs } from 'node:fs';
import { HfFormatError, HfMissingFileError } from './hf-errors';

/** The model's architecture and sizes (transformers `PretrainedConfig.save_pretrained`). */
export const HF_CONFIG_FILE = 'config.json';

/** Tokenizer files, as transformers' GPT2Tokenizer / GPT2TokenizerFast save them. */
export const HfTokenizerFiles = {
  tokenizerJson: 'tokenizer.json',
  vocab: 'vocab.json',
  merges: 'merges.txt',
  config: 'tokenizer_config.json',
  specialTokensMap: 'special_tokens_map.json',
  addedTokens: 'added_tokens.json',
} as const;

/** Weight files: one safetensors file, or an index naming its shards. */
export const HfWeightFiles = {
  single: 'model.safetensors',
  index: 'model.safetensors.index.json',
} as const;

/** Parses a JSON file; a missing file or invalid JSON is an error naming the file. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new HfMissingFileError(`${file} does not exist`, file);
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new HfFormatError(`${file} is not valid JSON`, file);
  }
}
