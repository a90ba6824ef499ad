/**
 * A Hugging Face base model as the start of a training run (issue 7):
 *  - `resolveBaseModelDir` turns a client's request into a real directory inside the
 *    operator's allowed root (never an arbitrary path), and
 *  - `runConfigForBase` makes a run config train on that base: the policy's shape becomes the
 *    checkpoint's (its weights only fit that shape), the preset's LoRA adapters stay on so
 *    the base stays frozen, and the reward model starts from the same base (its shape, LoRA
 *    adapters on a frozen base: the "all start from the base, LoRA by default").
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { RunConfig } from './run-config';
import { HfBaseModelDirError } from './hf-errors';
import type { Gpt2HfConfig } from './hf-model-config';
import { modelConfigFromGpt2 } from './hf-model-config';
import { HF_CONFIG_FILE } from './hf-files';
import { DEFAULT_HF_LORA } from './hf-model-config';

const isDirectory = (p: string): Promise<boolean> =>
  fs.stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );

/**
 * The real path of `requested` (relative to `root`, or absolute) when it is an existing
 * directory inside `root` holding a config.json; HfBaseModelDirError otherwise. Symlinks are
 * resolved before the containment check, so a link inside the root cannot point out of it.
 * Messages never show the root (it is the server's business).
 */
export async function resolveBaseModelDir(root: string | undefined, requested: string): Promise<string> {
  if (root === undefined || root === '') {
    throw new HfBaseModelDirError('base models are not enabled on this server (no base-model root is configured)', requested, 'no_root');
  }
  const realRoot = await fs.realpath(root).catch(() => null);
  if (realRoot === null) throw new HfBaseModelDirError('the configured base-model root does not exist', requested, 'no_root');
  const candidate = path.resolve(realRoot, requested);
  const real = await fs.realpath(candidate).catch(() => null);
  const inside = (p: string): boolean => p === realRoot || p.startsWith(realRoot + path.sep);
  // The lexical check first: a path that escapes is refused the same way whether or not it exists.
  if (!inside(candidate) || (real !== null && !inside(real))) {
    throw new HfBaseModelDirError(`'${requested}' is not inside the allowed base-model root`, requested, 'outside_root');
  }
  if (real === null || !(await isDirectory(real))) {
    throw new HfBaseModelDirError(`'${requested}' is not an existing directory under the base-model root`, requested, 'not_a_directory');
  }
  if (!(await fs.stat(path.join(real, HF_CONFIG_FILE)).then((s) => s.isFile(), () => false))) {
    throw new HfBaseModelDirError(`'${requested}' has no ${HF_CONFIG_FILE}; it is not a Hugging Face model directory`, requested, 'not_a_model');
  }
  return real;
}

/**
 * `config` adapted to start from a base whose config.json is `hf`; a new object, the input is
 * not changed.
 *  - policyModel: the checkpoint's shape (vocabulary, n_positions, layers, heads, width) with
 *    the config's LoRA settings (the preset's rank by default; rank 0 would train the whole base).
 *  - reward.model: the checkpoint's shape too, since the reward trunk is loaded from the base
 *    (activities/training); `reward.trainable` becomes 'lora', so only the adapters and the
 *    scalar head train. The adapters are the config's reward LoRA when its rank is > 0; the
 *    presets' reward rank is 0 (a fresh trunk trains fully), and rank 0 with 'lora' would
 *    still train every base weight, so then DEFAULT_HF_LORA (rank 8, alpha 16: the seed's
 *    LoRA rank) is used.
 */
export function runConfigForBase(config: RunConfig, hf: Gpt2HfConfig): RunConfig {
  const out = structuredClone(config);
  out.policyModel = modelConfigFromGpt2(hf, config.policyModel.lora);
  const rewardLora = config.reward.model.lora.rank > 0 ? config.reward.model.lora : DEFAULT_HF_LORA;
  out.reward.model = modelConfigFromGpt2(hf, rewardLora);
  out.reward.trainable = 'lora';
  // The LM loss regularises a trunk trained from scratch; a pretrained base already models text, and its
  // 50,257-way logits at every token would cost more than the reward model itself.
  out.reward.languageModelWeight = 0;
  // The base's own tokenizer (its directory's files), not one trained on the feedback.
  out.tokenizer = { kind: 'base' };
  return out;
}
