/**
 * Writes a policy as a Hugging Face GPT-2 directory that transformers (and the usual serving
 * tools) load with `GPT2LMHeadModel.from_pretrained` / `AutoTokenizer.from_pretrained`:
 *   model.safetensors   the trunk as float32 under `transformer.`, LoRA merged into the base
 *                       (W += A·B·α/r, Hu et al. 2021); no lm_head (tied to wte, as save_pretrained
 *                       writes it); the value head is not part of GPT2LMHeadModel and is left out;
 *   config.json         GPT2Config, the source checkpoint's config kept where given;
 *   generation_config.json, and the tokenizer files (tokenizer-files.ts).
 * The policy passed in is not changed: the merge happens on a copy.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { GptModel } from '../model';
import { Rng } from '../rng';
import type { BpeTokenizer } from './bpe-tokenizer';
import { HfFormatError } from '../../spec/hf-errors';
import { gpt2ConfigFor, type Gpt2HfConfig } from '../../spec/hf-model-config';
import { HF_CONFIG_FILE } from '../../spec/hf-files';
import { writeSafetensors, type TensorToWrite } from './safetensors';
import { hfTokenizerFiles } from './tokenizer-files';
import { HfWeightFiles } from '../../spec/hf-files';

export const HF_GENERATION_CONFIG_FILE = 'generation_config.json';

export interface HfExportOptions {
  /** config.json of the checkpoint the policy started from; its extra fields are kept. */
  sourceConfig?: Gpt2HfConfig;
}

/** The base weights with LoRA merged, computed on a copy so the caller's model is untouched. */
function mergedBaseTensors(model: GptModel): TensorToWrite[] {
  const copy = GptModel.fromWeights(model.config, model.getWeights(), new Rng(0)); // init draws are overwritten
  try {
    copy.mergeLora();
    return copy
      .namedVariables()
      .filter((n) => n.group === 'base')
      .map((n) => ({ name: `transformer.${n.name}`, shape: [...n.variable.shape], data: Float32Array.from(n.variable.dataSync() as Float32Array) }));
  } finally {
    copy.dispose();
  }
}

/** Writes `dir` (created if needed). Existing files of the same names are replaced. */
export async function exportHfModelDir(dir: string, model: GptModel, tokenizer: BpeTokenizer, opts: HfExportOptions = {}): Promise<void> {
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new HfFormatError(
      `cannot export: the tokenizer has ${tokenizer.vocabSize} ids but the model's vocabulary is ${model.config.vocabSize}`,
      path.join(dir, HF_CONFIG_FILE),
    );
  }
  await fs.mkdir(dir, { recursive: true });
  // transformers refuses safetensors files whose metadata lacks a known framework format.
  await writeSafetensors(path.join(dir, HfWeightFiles.single), mergedBaseTensors(model), { format: 'pt' });
  const special = { bosId: tokenizer.bosId, eosId: tokenizer.eosId };
  const json = (v: unknown): string => JSON.stringify(v, null, 2) + '\n';
  await fs.writeFile(path.join(dir, HF_CONFIG_FILE), json(gpt2ConfigFor(model.config, special, opts.sourceConfig)));
  await fs.writeFile(path.join(dir, HF_GENERATION_CONFIG_FILE), json({ bos_token_id: special.bosId, eos_token_id: special.eosId }));
  for (const [file, content] of Object.entries(hfTokenizerFiles(tokenizer, model.config.blockSize))) {
    await fs.writeFile(path.join(dir, file), content);
  }
}
