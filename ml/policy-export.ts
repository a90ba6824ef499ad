/**
 * A trained policy as a self-contained directory (the seed's `models/{agentId}/{version}/policy/`):
 *   config.json     the run config (the model shape is `policyModel`), a format tag, and the
 *                   source checkpoint's Hugging Face config.json when the policy started from one;
 *   tokenizer.json  which tokenizer and its special ids;
 *   bpe/            for a BPE tokenizer, its files as Hugging Face writes them (vocab, merges,
 *                   specials: ml/hf/tokenizer-files), read back by `loadPolicy`;
 *   weights/        every weight in ml/checkpoint's verified format, LoRA merged into the base
 *                   (W += A·B·α/r, Hu et al. 2021), so a plain forward pass is the trained policy;
 *   hf/             optional (`hfExport`): the policy as a Hugging Face GPT-2 directory that
 *                   transformers loads (ml/hf/export), for a policy with a BPE tokenizer.
 * `loadPolicy` rebuilds it; `generateText` samples from it.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { GenerationConfig, RunConfig } from '../spec/run-config';
import { GptModel } from './model';
import { Rng } from './rng';
import { ByteTokenizer, type Tokenizer } from './tokenizer';
import { readCheckpoint, writeCheckpoint } from './checkpoint';
import { generate } from './sampling';
import { responseText, rolloutPromptIds } from './ppo-rollout';
import { PolicyFormatError } from './ppo-errors';
import { BpeTokenizer } from './hf/bpe-tokenizer';
import { exportHfModelDir } from './hf/export';
import type { Gpt2HfConfig } from '../spec/hf-model-config';
import { hfTokenizerFiles, readBpeTokenizer } from './hf/tokenizer-files';

export const POLICY_FORMAT = 'rlhf-policy/1';

/** File names inside a policy directory. */
export const PolicyFiles = {
  config: 'config.json',
  tokenizer: 'tokenizer.json',
  /** Directory of a BPE tokenizer's Hugging Face files. */
  bpeTokenizer: 'bpe',
  weights: 'weights',
  /** Directory of the Hugging Face export. */
  hf: 'hf',
} as const;

interface PolicyConfigFile {
  format: typeof POLICY_FORMAT;
  /** LoRA was folded into the base weights before saving. */
  loraMerged: true;
  config: RunConfig;
  /** config.json of the Hugging Face base the policy started from (absent: trained from scratch). */
  hfConfig?: Gpt2HfConfig;
}

/** What tokenizer.json holds: enough to rebuild the tokenizer and check its special ids. */
export interface TokenizerDescription {
  /** 'byte': ml/tokenizer's ByteTokenizer; 'bpe': GPT-2 byte-level BPE whose files are in `bpe/`. */
  kind: 'byte' | 'bpe';
  vocabSize: number;
  bosId: number;
  eosId: number;
  padId: number;
}

function describeTokenizer(tok: Tokenizer): TokenizerDescription {
  const kind = tok instanceof BpeTokenizer ? 'bpe' : 'byte';
  return { kind, vocabSize: tok.vocabSize, bosId: tok.bosId, eosId: tok.eosId, padId: tok.padId };
}

/** The weights with LoRA merged, computed on a copy so the caller's policy is not changed. */
function mergedWeights(policy: GptModel): Record<string, Float32Array> {
  const copy = GptModel.fromWeights(policy.config, policy.getWeights(), new Rng(0)); // init draws are overwritten
  try {
    copy.mergeLora();
    return copy.getWeights();
  } finally {
    copy.dispose();
  }
}

export interface SavePolicyOptions {
  /** config.json of the Hugging Face base the policy started from; kept for later exports. */
  hfConfig?: Gpt2HfConfig | null;
  /** Also write `hf/`, a Hugging Face GPT-2 directory (needs a BPE tokenizer). */
  hfExport?: boolean;
}

async function writeBpeFiles(dir: string, tokenizer: BpeTokenizer, modelMaxLength: number): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (const [file, content] of Object.entries(hfTokenizerFiles(tokenizer, modelMaxLength))) await fs.writeFile(path.join(dir, file), content);
}

/**
 * Writes `dir/{config.json, tokenizer.json, weights/}` (plus `bpe/` for a BPE tokenizer and
 * `hf/` when asked). The policy itself is left as it was.
 */
export async function savePolicy(dir: string, policy: GptModel, tokenizer: Tokenizer, config: RunConfig, opts: SavePolicyOptions = {}): Promise<void> {
  if (opts.hfExport && !(tokenizer instanceof BpeTokenizer)) {
    throw new PolicyFormatError('a Hugging Face export needs a BPE tokenizer; this policy uses the byte tokenizer', dir, PolicyFiles.hf);
  }
  await fs.mkdir(dir, { recursive: true });
  const weights = mergedWeights(policy);
  const tensors = policy.namedVariables().map(({ name, variable }) => ({ name, shape: [...variable.shape], data: weights[name] }));
  await writeCheckpoint(path.join(dir, PolicyFiles.weights), { tensors, state: { kind: 'policy', loraMerged: true } });
  const configFile: PolicyConfigFile = { format: POLICY_FORMAT, loraMerged: true, config: { ...config, policyModel: policy.config } };
  if (opts.hfConfig) configFile.hfConfig = opts.hfConfig;
  await fs.writeFile(path.join(dir, PolicyFiles.config), JSON.stringify(configFile, null, 2) + '\n');
  await fs.writeFile(path.join(dir, PolicyFiles.tokenizer), JSON.stringify(describeTokenizer(tokenizer), null, 2) + '\n');
  if (tokenizer instanceof BpeTokenizer) {
    await writeBpeFiles(path.join(dir, PolicyFiles.bpeTokenizer), tokenizer, policy.config.blockSize);
    if (opts.hfExport) await exportHfModelDir(path.join(dir, PolicyFiles.hf), policy, tokenizer, { sourceConfig: opts.hfConfig ?? undefined });
  }
}

async function readJson<T>(dir: string, file: string): Promise<T> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, file), 'utf8');
  } catch (err) {
    throw new PolicyFormatError(`cannot read ${file} in policy directory ${dir}: ${(err as Error).message}`, dir, file);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new PolicyFormatError(`${file} in policy directory ${dir} is not valid JSON`, dir, file);
  }
}

/** Builds the described tokenizer and throws PolicyFormatError unless its special ids match the description. */
async function tokenizerFrom(desc: TokenizerDescription, dir: string): Promise<Tokenizer> {
  let tok: Tokenizer;
  if (desc.kind === 'byte') tok = new ByteTokenizer();
  else if (desc.kind === 'bpe') {
    try {
      tok = await readBpeTokenizer(path.join(dir, PolicyFiles.bpeTokenizer), 'tokenizer.json');
    } catch (err) {
      throw new PolicyFormatError(`cannot read the BPE tokenizer in ${PolicyFiles.bpeTokenizer}/: ${(err as Error).message}`, dir, PolicyFiles.bpeTokenizer);
    }
  } else {
    throw new PolicyFormatError(`tokenizer.json names an unknown tokenizer kind '${String(desc.kind)}' (byte or bpe)`, dir, PolicyFiles.tokenizer);
  }
  const expected = describeTokenizer(tok);
  const same = (Object.keys(expected) as (keyof TokenizerDescription)[]).every((k) => desc[k] === expected[k]);
  if (!same) {
    throw new PolicyFormatError(`tokenizer.json describes ${JSON.stringify(desc)}; the tokenizer it names is ${JSON.stringify(expected)}`, dir, PolicyFiles.tokenizer);
  }
  return tok;
}

export interface LoadedPolicy {
  policy: GptModel;
  tokenizer: Tokenizer;
  config: RunConfig;
  /** config.json of the Hugging Face base the policy started from, or null. */
  hfConfig: Gpt2HfConfig | null;
}

/**
 * Loads a directory written by `savePolicy`. The weights' checksums are verified
 * (CheckpointCorruptError from ml/checkpoint otherwise). The caller disposes the policy.
 */
export async function loadPolicy(dir: string): Promise<LoadedPolicy> {
  const file = await readJson<PolicyConfigFile>(dir, PolicyFiles.config);
  if (file.format !== POLICY_FORMAT) {
    throw new PolicyFormatError(`unknown policy format '${String(file.format)}' (expected ${POLICY_FORMAT})`, dir, PolicyFiles.config);
  }
  const tokenizer = await tokenizerFrom(await readJson<TokenizerDescription>(dir, PolicyFiles.tokenizer), dir);
  if (tokenizer.vocabSize > file.config.policyModel.vocabSize) {
    throw new PolicyFormatError(
      `the tokenizer has ${tokenizer.vocabSize} ids but the policy's vocabulary is ${file.config.policyModel.vocabSize}`,
      dir,
      PolicyFiles.tokenizer,
    );
  }
  const checkpoint = await readCheckpoint(path.join(dir, PolicyFiles.weights));
  const weights: Record<string, Float32Array> = {};
  for (const t of checkpoint.tensors) weights[t.name] = t.data;
  const policy = GptModel.fromWeights(file.config.policyModel, weights, new Rng(0)); // init draws are overwritten
  return { policy, tokenizer, config: file.config, hfConfig: file.hfConfig ?? null };
}

/** The Hugging Face base config.json a saved policy records (null: trained from scratch), without loading its weights. */
export async function readPolicyHfConfig(dir: string): Promise<Gpt2HfConfig | null> {
  return (await readJson<PolicyConfigFile>(dir, PolicyFiles.config)).hfConfig ?? null;
}

/**
 * Samples one response to `prompt` (prompt cut from the left to leave room for
 * `maxNewTokens`) and returns its text without EOS.
 */
export function generateText(policy: GptModel, tok: Tokenizer, prompt: string, genCfg: GenerationConfig, rng: Rng): string {
  const ids = rolloutPromptIds(tok, prompt, policy.config.blockSize, genCfg.maxNewTokens);
  const { responses } = generate(policy, [ids], { ...genCfg, eosId: tok.eosId, padId: tok.padId }, rng);
  return responseText(tok, responses[0]);
}
