/**
 * A trained policy as a self-contained directory (the seed's `models/{agentId}/{version}/policy/`):
 *   config.json     the run config (the model shape is `policyModel`) and a format tag;
 *   tokenizer.json  which tokenizer and its special ids;
 *   weights/        every weight in ml/checkpoint's verified format, LoRA merged into the base
 *                   (W += A·B·α/r, Hu et al. 2021), so a plain forward pass is the trained policy.
 * `loadPolicy` rebuilds it; `generateText` samples from it.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { GenerationConfig, RunConfig } from './config';
import { GptModel } from './model';
import { Rng } from './rng';
import { ByteTokenizer, type Tokenizer } from './tokenizer';
import { readCheckpoint, writeCheckpoint } from './checkpoint';
import { generate } from './sampling';
import { responseText, rolloutPromptIds } from './ppo-rollout';
import { PolicyFormatError } from './ppo-errors';

export const POLICY_FORMAT = 'rlhf-policy/1';

/** File names inside a policy directory. */
export const PolicyFiles = {
  config: 'config.json',
  tokenizer: 'tokenizer.json',
  weights: 'weights',
} as const;

interface PolicyConfigFile {
  format: typeof POLICY_FORMAT;
  /** LoRA was folded into the base weights before saving. */
  loraMerged: true;
  config: RunConfig;
}

/** What tokenizer.json holds: enough to rebuild the tokenizer and check its special ids. */
export interface TokenizerDescription {
  kind: 'byte';
  vocabSize: number;
  bosId: number;
  eosId: number;
  padId: number;
}

function describeTokenizer(tok: Tokenizer): TokenizerDescription {
  return { kind: 'byte', vocabSize: tok.vocabSize, bosId: tok.bosId, eosId: tok.eosId, padId: tok.padId };
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

/** Writes `dir/{config.json, tokenizer.json, weights/}`. The policy itself is left as it was. */
export async function savePolicy(dir: string, policy: GptModel, tokenizer: Tokenizer, config: RunConfig): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const weights = mergedWeights(policy);
  const tensors = policy.namedVariables().map(({ name, variable }) => ({ name, shape: [...variable.shape], data: weights[name] }));
  await writeCheckpoint(path.join(dir, PolicyFiles.weights), { tensors, state: { kind: 'policy', loraMerged: true } });
  const configFile: PolicyConfigFile = { format: POLICY_FORMAT, loraMerged: true, config: { ...config, policyModel: policy.config } };
  await fs.writeFile(path.join(dir, PolicyFiles.config), JSON.stringify(configFile, null, 2) + '\n');
  await fs.writeFile(path.join(dir, PolicyFiles.tokenizer), JSON.stringify(describeTokenizer(tokenizer), null, 2) + '\n');
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

/** Rebuilds the tokenizer a policy was saved with; throws PolicyFormatError when it is not the byte tokenizer. */
function tokenizerFrom(desc: TokenizerDescription, dir: string): Tokenizer {
  const tok = new ByteTokenizer();
  const expected = describeTokenizer(tok);
  const same = (Object.keys(expected) as (keyof TokenizerDescription)[]).every((k) => desc[k] === expected[k]);
  if (!same) {
    throw new PolicyFormatError(`tokenizer.json describes ${JSON.stringify(desc)}; only ${JSON.stringify(expected)} is supported`, dir, PolicyFiles.tokenizer);
  }
  return tok;
}

export interface LoadedPolicy {
  policy: GptModel;
  tokenizer: Tokenizer;
  config: RunConfig;
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
  const tokenizer = tokenizerFrom(await readJson<TokenizerDescription>(dir, PolicyFiles.tokenizer), dir);
  const checkpoint = await readCheckpoint(path.join(dir, PolicyFiles.weights));
  const weights: Record<string, Float32Array> = {};
  for (const t of checkpoint.tensors) weights[t.name] = t.data;
  const policy = GptModel.fromWeights(file.config.policyModel, weights, new Rng(0)); // init draws are overwritten
  return { policy, tokenizer, config: file.config };
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
