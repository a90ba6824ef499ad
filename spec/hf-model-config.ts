/**
 * config.json of a Hugging Face GPT-2 checkpoint (transformers `GPT2Config`) → our `ModelConfig`.
 *
 * GptModel implements exactly GPT-2's block (learned positions, pre-LN with eps 1e-5, gelu_new,
 * tied LM head, attention scaled by 1/√d), so every config option that changes that function
 * is checked and refused with the field named, rather than silently computing something else.
 * Dropout probabilities are not carried over: RLHF fine-tuning here runs without dropout.
 */
import * as path from 'node:path';
import type { LoraConfig, ModelConfig } from './run-config';
import { HfFormatError, HfUnknownArchitectureError } from './hf-errors';
import { HF_CONFIG_FILE, readJsonFile } from './hf-files';

export const GPT2_ARCHITECTURE = 'GPT2LMHeadModel';

/** The config.json fields we read, as GPT2Config names them. Anything else is passed through on export. */
export interface Gpt2HfConfig {
  architectures?: string[];
  model_type?: string;
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  n_inner?: number | null;
  activation_function?: string;
  layer_norm_epsilon?: number;
  scale_attn_weights?: boolean;
  scale_attn_by_inverse_layer_idx?: boolean;
  add_cross_attention?: boolean;
  tie_word_embeddings?: boolean;
  bos_token_id?: number | null;
  eos_token_id?: number | null;
  [key: string]: unknown;
}

/** GPT-2's GELU is the tanh approximation; transformers calls it gelu_new (or gelu_pytorch_tanh, the same function). */
const SUPPORTED_ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh'];
/** The eps ml/layers' layerNorm uses (GPT2Config's default). */
const LAYER_NORM_EPS = 1e-5;

/** Throws HfUnknownArchitectureError unless config.json describes a GPT2LMHeadModel. */
export function checkArchitecture(raw: Record<string, unknown>, file: string): void {
  const archs = raw.architectures;
  if (Array.isArray(archs) && archs.length > 0) {
    if (archs.length === 1 && archs[0] === GPT2_ARCHITECTURE) return;
    throw new HfUnknownArchitectureError(
      `${file}: architecture ${archs.join(', ')} is not supported; only ${GPT2_ARCHITECTURE} (GPT-2 family: gpt2, distilgpt2, their fine-tunes) can be loaded`,
      file,
      archs.join(', '),
    );
  }
  // Old GPT-2 checkpoints have no `architectures`; model_type gpt2 identifies them.
  if (raw.model_type === 'gpt2') return;
  const type = typeof raw.model_type === 'string' ? raw.model_type : null;
  throw new HfUnknownArchitectureError(
    `${file}: neither architectures nor model_type names ${GPT2_ARCHITECTURE} (model_type ${String(type)})`,
    file,
    type,
  );
}

function positiveInt(raw: Record<string, unknown>, key: string, file: string, fallbackKey?: string): number {
  const value = raw[key] ?? (fallbackKey === undefined ? undefined : raw[fallbackKey]);
  if (!Number.isInteger(value) || (value as number) <= 0) {
    throw new HfFormatError(`${file}: '${key}' must be a positive integer, got ${JSON.stringify(value)}`, file);
  }
  return value as number;
}

/** Refuses options that would change GPT-2's function; each message names the field. */
function checkSupportedOptions(c: Gpt2HfConfig, file: string): void {
  const refuse = (field: string, why: string): never => {
    throw new HfFormatError(`${file}: ${field} = ${JSON.stringify(c[field])} is not supported (${why})`, file);
  };
  if (c.activation_function !== undefined && !SUPPORTED_ACTIVATIONS.includes(c.activation_function)) {
    refuse('activation_function', `the model computes ${SUPPORTED_ACTIVATIONS.join(' / ')}`);
  }
  if (c.layer_norm_epsilon !== undefined && Math.abs(c.layer_norm_epsilon - LAYER_NORM_EPS) > 1e-12) {
    refuse('layer_norm_epsilon', `the model's LayerNorm uses ${LAYER_NORM_EPS}`);
  }
  if (c.n_inner !== undefined && c.n_inner !== null && c.n_inner !== 4 * c.n_embd) refuse('n_inner', 'the MLP width is 4 × n_embd');
  if (c.scale_attn_weights === false) refuse('scale_attn_weights', 'attention is always scaled by 1/√head_dim');
  if (c.scale_attn_by_inverse_layer_idx === true) refuse('scale_attn_by_inverse_layer_idx', 'no per-layer attention scaling');
  if (c.add_cross_attention === true) refuse('add_cross_attention', 'decoder-only model');
  if (c.tie_word_embeddings === false) refuse('tie_word_embeddings', 'the LM head is tied to wte');
  if (c.n_embd % c.n_head !== 0) refuse('n_head', `n_embd ${c.n_embd} must be divisible by n_head`);
}

/** Parses and checks config.json's content. */
export function parseGpt2Config(raw: Record<string, unknown>, file: string): Gpt2HfConfig {
  checkArchitecture(raw, file);
  const c: Gpt2HfConfig = {
    ...raw,
    vocab_size: positiveInt(raw, 'vocab_size', file),
    // n_ctx is the older name of the context length.
    n_positions: positiveInt(raw, 'n_positions', file, 'n_ctx'),
    n_embd: positiveInt(raw, 'n_embd', file),
    n_layer: positiveInt(raw, 'n_layer', file),
    n_head: positiveInt(raw, 'n_head', file),
  };
  checkSupportedOptions(c, file);
  return c;
}

/** Adapters on a loaded base by default, so the base stays frozen: rank 8 as the seed's LoRA, alpha 2r as the presets' (spec/run-config.ts). */
export const DEFAULT_HF_LORA: LoraConfig = { rank: 8, alpha: 16, dropout: 0 };

/** Reads and checks `dir/config.json`. */
export async function readGpt2Config(dir: string): Promise<Gpt2HfConfig> {
  const file = path.join(dir, HF_CONFIG_FILE);
  const raw = await readJsonFile(file);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new HfFormatError(`${file} is not a JSON object`, file);
  return parseGpt2Config(raw as Record<string, unknown>, file);
}

/** Our model shape for a GPT-2 config, with the given adapters (LoRA keeps a large base frozen). */
export function modelConfigFromGpt2(c: Gpt2HfConfig, lora: LoraConfig): ModelConfig {
  return {
    vocabSize: c.vocab_size,
    blockSize: c.n_positions,
    nLayer: c.n_layer,
    nHead: c.n_head,
    nEmbd: c.n_embd,
    dropout: 0,
    lora: { ...lora },
  };
}

/**
 * config.json for an exported model: the source checkpoint's config (when there was one) with
 * the shape fields and GPT-2 architecture set from `model`.
 */
export function gpt2ConfigFor(model: ModelConfig, special: { bosId: number; eosId: number }, source?: Gpt2HfConfig): Gpt2HfConfig {
  return {
    activation_function: 'gelu_new',
    layer_norm_epsilon: LAYER_NORM_EPS,
    initializer_range: 0.02,
    scale_attn_weights: true,
    tie_word_embeddings: true,
    use_cache: true,
    ...source,
    architectures: [GPT2_ARCHITECTURE],
    model_type: 'gpt2',
    vocab_size: model.vocabSize,
    n_positions: model.blockSize,
    n_embd: model.nEmbd,
    n_layer: model.nLayer,
    n_head: model.nHead,
    n_inner: null,
    bos_token_id: special.bosId,
    eos_token_id: special.eosId,
    // Weights are written as float32.
    torch_dtype: 'float32',
    dtype: 'float32',
  };
}
