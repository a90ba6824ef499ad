/**
 * Loads a local Hugging Face GPT-2-family directory (gpt2, distilgpt2, a `save_pretrained`
 * fine-tune) into our GptModel and BpeTokenizer.
 *
 * Name mapping: HF's `transformer.` prefix is dropped and the rest is our variable name as is
 * (GptModel names follow GPT-2). No transpose: HF GPT-2 uses Conv1D, whose weight is stored
 * [in, out] (transformers `pytorch_utils.Conv1D`: y = x·W + b), the layout `dense` uses. The
 * LM head is tied to wte; a stored `lm_head.weight` must equal it. Older checkpoints also carry
 * the causal-mask buffers `attn.bias` / `attn.masked_bias`, which are not weights and are skipped.
 *
 * Tensors are read and assigned one at a time, so peak memory is the model plus one tensor.
 * LoRA adapters (A random, B = 0) and the value head are freshly initialised from `seed`; with
 * B = 0 the adapted model computes exactly the base.
 */
import * as path from 'node:path';
import type { LoraConfig, ModelConfig } from '../../spec/run-config';
import { GptModel, variableSpecs } from '../model';
import { Rng } from '../rng';
import type { BpeTokenizer } from './bpe-tokenizer';
import { HfFormatError, HfShapeMismatchError } from '../../spec/hf-errors';
import { DEFAULT_HF_LORA, modelConfigFromGpt2, readGpt2Config, type Gpt2HfConfig } from '../../spec/hf-model-config';
import { readBpeTokenizer, type TokenizerSource } from './tokenizer-files';
import { HF_CONFIG_FILE } from '../../spec/hf-files';
import { SafetensorsWeights, type LocatedEntry } from './weights-dir';

/** HF's GPT2LMHeadModel keeps the trunk under this prefix (`base_model_prefix`). */
const TRUNK_PREFIX = 'transformer.';
const LM_HEAD = 'lm_head.weight';
/** Causal-mask buffers saved by older transformers versions; not parameters. */
const MASK_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

export interface HfLoadOptions {
  /** Adapters to add on top of the base (rank 0 = none, every weight trains). */
  lora?: LoraConfig;
  /** Seed for the LoRA A matrices and the value head (the only weights not in the checkpoint). */
  seed?: number;
  /** Which tokenizer files to read ('auto': tokenizer.json, else vocab.json + merges.txt). */
  tokenizer?: TokenizerSource;
}

export interface LoadedHfModel {
  model: GptModel;
  tokenizer: BpeTokenizer;
  config: ModelConfig;
  /** config.json as read (passed through to an export). */
  hfConfig: Gpt2HfConfig;
}

interface WeightPlan {
  /** Our variable name → where the checkpoint holds it. */
  assign: Map<string, LocatedEntry & { stored: string }>;
  lmHead: (LocatedEntry & { stored: string }) | null;
}

/** Maps every stored tensor to a variable and checks its shape against the config. */
function planWeights(weights: SafetensorsWeights, cfg: ModelConfig): WeightPlan {
  const expected = new Map(variableSpecs(cfg).filter((s) => s.group === 'base').map((s) => [s.name, s.shape]));
  const assign: WeightPlan['assign'] = new Map();
  let lmHead: WeightPlan['lmHead'] = null;
  for (const stored of weights.names()) {
    const entry = { ...weights.entry(stored)!, stored };
    const name = stored.startsWith(TRUNK_PREFIX) ? stored.slice(TRUNK_PREFIX.length) : stored;
    if (MASK_BUFFER.test(name)) continue;
    const shape = name === LM_HEAD ? expected.get('wte.weight')! : expected.get(name);
    if (shape === undefined) {
      throw new HfFormatError(`${entry.file}: tensor '${stored}' is not part of GPT2LMHeadModel with this config`, entry.file, stored);
    }
    if (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i])) {
      throw new HfShapeMismatchError(
        `${entry.file}: tensor '${stored}' has shape [${entry.shape.join(', ')}]; config.json implies [${shape.join(', ')}]`,
        entry.file,
        stored,
        shape,
        entry.shape,
      );
    }
    if (name === LM_HEAD) lmHead = entry;
    else if (assign.has(name)) {
      throw new HfFormatError(`${entry.file}: tensor '${stored}' duplicates '${assign.get(name)!.stored}'`, entry.file, stored);
    } else assign.set(name, entry);
  }
  for (const [name, shape] of expected) {
    if (!assign.has(name)) {
      const where = weights.source;
      throw new HfShapeMismatchError(`${where}: tensor '${TRUNK_PREFIX}${name}' is missing`, where, TRUNK_PREFIX + name, shape, null);
    }
  }
  return { assign, lmHead };
}

/** A stored lm_head must be the tied wte: GptModel has no separate output matrix. */
async function checkTiedHead(weights: SafetensorsWeights, plan: WeightPlan, wte: Float32Array): Promise<void> {
  if (plan.lmHead === null) return;
  const head = await weights.readF32(plan.lmHead.stored);
  if (head.some((x, i) => x !== wte[i])) {
    throw new HfFormatError(
      `${plan.lmHead.file}: tensor '${plan.lmHead.stored}' differs from the token embedding; an untied LM head is not supported`,
      plan.lmHead.file,
      plan.lmHead.stored,
    );
  }
}

/** Loads `dir` (config.json, safetensors weights, tokenizer). The caller disposes `model`. */
export async function loadHfModelDir(dir: string, opts: HfLoadOptions = {}): Promise<LoadedHfModel> {
  const hfConfig = await readGpt2Config(dir);
  const config = modelConfigFromGpt2(hfConfig, opts.lora ?? DEFAULT_HF_LORA);
  const tokenizer = await readBpeTokenizer(dir, opts.tokenizer ?? 'auto');
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new HfFormatError(
      `${tokenizer.spec.source}: tokenizer has ${tokenizer.vocabSize} ids but ${path.join(dir, HF_CONFIG_FILE)} vocab_size is ${config.vocabSize}`,
      tokenizer.spec.source,
    );
  }
  const weights = await SafetensorsWeights.open(dir);
  let model: GptModel | null = null;
  try {
    const plan = planWeights(weights, config);
    model = GptModel.create(config, new Rng(opts.seed ?? 0));
    for (const [name, entry] of plan.assign) {
      const data = await weights.readF32(entry.stored);
      model.setWeights({ [name]: data }, { allowMissing: true });
      if (name === 'wte.weight') await checkTiedHead(weights, plan, data);
    }
    return { model, tokenizer, config, hfConfig };
  } catch (err) {
    model?.dispose();
    throw err;
  } finally {
    await weights.close();
  }
}
