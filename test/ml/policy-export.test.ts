import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MetricKeys, type UpdateMetrics } from '../../common/names';
import { initBackend } from '../../ml/backend';
import { GptModel } from '../../ml/model';
import { PolicyFiles, generateText, loadPolicy, savePolicy } from '../../ml/policy-export';
import { Rng } from '../../ml/rng';
import { tf } from '../../ml/tf';
import { ByteTokenizer } from '../../ml/tokenizer';
import { BpeTokenizer } from '../../ml/hf/bpe-tokenizer';
import { loadHfModelDir } from '../../ml/hf/load';
import { runConfigForBase } from '../../spec/base-model';
import { FIXTURE_DIR } from '../hf/fixture';
import { TRAINING_RESULTS_FILE, buildTrainingResults, readTrainingResults, writeTrainingResults } from '../../ml/training-results';
import { tinyRunConfig } from './fixtures/ppo-setup';

const tok = new ByteTokenizer();
let dir: string;

beforeAll(async () => {
  await initBackend({ log: () => undefined });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'policy-export-'));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Sets every LoRA B to seeded noise, so merging the adapters changes the base weights. */
function perturbAdapters(policy: GptModel, rng: Rng): void {
  const loraB = Object.fromEntries(
    policy
      .namedVariables()
      .filter((n) => n.name.endsWith('lora_B'))
      .map((n) => [n.name, rng.normalArray(n.variable.size, 0.2)]),
  );
  policy.setWeights(loraB, { allowMissing: true });
}

/** A policy whose adapters are non-zero, so merging them changes the base weights. */
function trainedLookingPolicy(seed: number): GptModel {
  const rng = new Rng(seed);
  const policy = GptModel.create(tinyRunConfig().policyModel, rng);
  perturbAdapters(policy, rng);
  return policy;
}

const maxAbs = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

function logitsOf(policy: GptModel, ids: number[][], adapters = true): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor2d(ids, undefined, 'int32'); // [1, T]
    const mask = tf.cast(tf.onesLike(x), 'float32') as tf.Tensor2D; // [1, T]
    return policy.forward(x, mask, { adapters }).logits.dataSync() as Float32Array; // [1, T, V]
  });
}

describe('savePolicy / loadPolicy', () => {
  it('round-trips a policy with LoRA merged: same logits, the saved policy left untouched', async () => {
    const config = tinyRunConfig();
    const policy = trainedLookingPolicy(5);
    const before = policy.getWeights();
    const target = path.join(dir, 'agent-a', 'v1', 'policy');
    await savePolicy(target, policy, tok, config);

    const after = policy.getWeights();
    for (const name of Object.keys(before)) expect(Buffer.from(after[name].buffer).equals(Buffer.from(before[name].buffer))).toBe(true);
    expect((await fs.readdir(target)).sort()).toEqual([PolicyFiles.config, PolicyFiles.tokenizer, PolicyFiles.weights].sort());

    const loaded = await loadPolicy(target);
    expect(loaded.config).toEqual(config);
    expect(loaded.tokenizer.eosId).toBe(tok.eosId);
    const ids = [[256, 81, 49, 58, 32, 97, 101]];
    const original = logitsOf(policy, ids);
    const restored = logitsOf(loaded.policy, ids);
    const maxDiff = original.reduce((m, v, i) => Math.max(m, Math.abs(v - restored[i])), 0);
    expect(maxDiff).toBeLessThan(1e-4);
    // The merge made the adapters redundant: adapters off gives the same policy.
    const noAdapters = logitsOf(loaded.policy, ids, false);
    expect(Array.from(noAdapters)).toEqual(Array.from(restored));

    const a = generateText(policy, tok, 'Q1: ', config.ppo.generation, new Rng(9));
    const b = generateText(loaded.policy, tok, 'Q1: ', config.ppo.generation, new Rng(9));
    expect(b).toBe(a);
    policy.dispose();
    loaded.policy.dispose();
  });

  it('rejects a directory whose tokenizer is not the byte tokenizer', async () => {
    const policy = trainedLookingPolicy(6);
    const target = path.join(dir, 'bad-tokenizer');
    await savePolicy(target, policy, tok, tinyRunConfig());
    policy.dispose();
    await fs.writeFile(path.join(target, PolicyFiles.tokenizer), JSON.stringify({ kind: 'byte', vocabSize: 300, bosId: 256, eosId: 257, padId: 258 }));
    await expect(loadPolicy(target)).rejects.toMatchObject({ name: 'PolicyFormatError', file: PolicyFiles.tokenizer });
    await expect(loadPolicy(path.join(dir, 'missing'))).rejects.toMatchObject({ name: 'PolicyFormatError', file: PolicyFiles.config });
  });
});

describe('savePolicy / loadPolicy with a BPE tokenizer (Hugging Face base)', () => {
  const lora = { rank: 2, alpha: 4, dropout: 0 };
  const prompt = 'Hello world, ça va? 123';

  /** The tiny-gpt2 fixture with perturbed adapters, and a run config shaped for it. */
  async function fromFixture(seed: number) {
    const base = await loadHfModelDir(FIXTURE_DIR, { lora, seed });
    perturbAdapters(base.model, new Rng(seed + 1));
    const config = runConfigForBase({ ...tinyRunConfig(), policyModel: { ...tinyRunConfig().policyModel, lora } }, base.hfConfig);
    return { ...base, config };
  }

  it('saves the tokenizer files and the HF export; loads back the same tokenizer, logits and samples', async () => {
    const { model, tokenizer, hfConfig, config } = await fromFixture(3);
    const target = path.join(dir, 'agent-hf', 'v1', 'policy');
    await savePolicy(target, model, tokenizer, config, { hfConfig, hfExport: true });
    expect((await fs.readdir(target)).sort()).toEqual(
      [PolicyFiles.config, PolicyFiles.tokenizer, PolicyFiles.weights, PolicyFiles.bpeTokenizer, PolicyFiles.hf].sort(),
    );
    expect(JSON.parse(await fs.readFile(path.join(target, PolicyFiles.tokenizer), 'utf8'))).toMatchObject({ kind: 'bpe', vocabSize: 400 });

    const loaded = await loadPolicy(target);
    expect(loaded.tokenizer).toBeInstanceOf(BpeTokenizer);
    expect(loaded.hfConfig).toEqual(hfConfig);
    expect(loaded.config.policyModel).toEqual(config.policyModel);
    expect(loaded.tokenizer.encode(prompt)).toEqual(tokenizer.encode(prompt));
    expect([loaded.tokenizer.bosId, loaded.tokenizer.eosId, loaded.tokenizer.padId]).toEqual([tokenizer.bosId, tokenizer.eosId, tokenizer.padId]);
    const ids = [[tokenizer.bosId, ...tokenizer.encode(prompt)]];
    const original = logitsOf(model, ids);
    expect(maxAbs(original, logitsOf(loaded.policy, ids))).toBeLessThan(1e-4);
    // The adapters matter (the test would not see a lost merge otherwise).
    expect(maxAbs(original, logitsOf(model, ids, false))).toBeGreaterThan(1e-3);

    const gen = { maxNewTokens: 8, temperature: 1, topK: 0, topP: 1 };
    const a = generateText(model, tokenizer, prompt, gen, new Rng(4));
    expect(generateText(loaded.policy, loaded.tokenizer, prompt, gen, new Rng(4))).toBe(a);

    // hf/ is a Hugging Face directory of the merged policy: our loader reads it back to the same logits.
    const exported = await loadHfModelDir(path.join(target, PolicyFiles.hf), { lora: { rank: 0, alpha: 0, dropout: 0 } });
    expect(exported.tokenizer.encode(prompt)).toEqual(tokenizer.encode(prompt));
    expect(maxAbs(original, logitsOf(exported.model, ids))).toBeLessThan(1e-4);
    [model, loaded.policy, exported.model].forEach((m) => m.dispose());
  });

  it('without hfExport writes no hf/, and keeps no HF config when none was given', async () => {
    const { model, tokenizer, config } = await fromFixture(5);
    const target = path.join(dir, 'bpe-plain');
    await savePolicy(target, model, tokenizer, config);
    expect(await fs.readdir(target)).not.toContain(PolicyFiles.hf);
    expect((await loadPolicy(target)).hfConfig).toBeNull();
    model.dispose();
  });

  it('refuses an HF export of a byte-tokenizer policy, and a BPE description whose files are missing or disagree', async () => {
    const policy = trainedLookingPolicy(8);
    await expect(savePolicy(path.join(dir, 'byte-hf'), policy, tok, tinyRunConfig(), { hfExport: true })).rejects.toMatchObject({
      name: 'PolicyFormatError',
      file: PolicyFiles.hf,
    });
    policy.dispose();

    const { model, tokenizer, config } = await fromFixture(6);
    const target = path.join(dir, 'bpe-broken');
    await savePolicy(target, model, tokenizer, config);
    model.dispose();
    const descFile = path.join(target, PolicyFiles.tokenizer);
    const desc = JSON.parse(await fs.readFile(descFile, 'utf8')) as Record<string, unknown>;
    await fs.writeFile(descFile, JSON.stringify({ ...desc, eosId: 5 }));
    await expect(loadPolicy(target)).rejects.toMatchObject({ name: 'PolicyFormatError', file: PolicyFiles.tokenizer });
    await fs.writeFile(descFile, JSON.stringify(desc));
    await fs.rm(path.join(target, PolicyFiles.bpeTokenizer), { recursive: true });
    await expect(loadPolicy(target)).rejects.toMatchObject({ name: 'PolicyFormatError', file: PolicyFiles.bpeTokenizer });
  });
});

describe('generateText', () => {
  it('is reproducible from the Rng and returns text without the EOS marker', () => {
    const policy = trainedLookingPolicy(7);
    const gen = { maxNewTokens: 8, temperature: 1, topK: 0, topP: 1 };
    const a = generateText(policy, tok, 'Q3: ', gen, new Rng(1));
    expect(generateText(policy, tok, 'Q3: ', gen, new Rng(1))).toBe(a);
    expect(Buffer.byteLength(a, 'utf8')).toBeLessThanOrEqual(8 * 3); // ≤ 8 bytes, each at most 3 UTF-8 bytes as U+FFFD
    policy.dispose();
  });
});

describe('training_results.json', () => {
  it('writes the history with a summary and reads it back', async () => {
    const metric = (score: number, kl: number): UpdateMetrics =>
      Object.fromEntries(Object.values(MetricKeys).map((k) => [k, k === MetricKeys.scores ? score : k === MetricKeys.klObjective ? kl : 0.5])) as UpdateMetrics;
    const history = [metric(0.1, 0), metric(0.3, 1.5), metric(0.6, 2.5)];
    const results = buildTrainingResults({ config: tinyRunConfig(), rewardModel: { valMse: 0.1, valMae: 0.2, valPearson: 0.9, valSpearman: 0.88 }, history });
    expect(results.ppo.summary).toEqual({ updates: 3, firstScore: 0.1, finalScore: 0.6, finalKl: 2.5, finalKlCoef: 0.5 });
    const versionDir = path.join(dir, 'agent-a', 'v2');
    const written = await writeTrainingResults(versionDir, results);
    expect(path.basename(written)).toBe(TRAINING_RESULTS_FILE);
    expect(await readTrainingResults(versionDir)).toEqual(results);
    expect((await fs.readdir(versionDir)).filter((f) => f.includes('.tmp'))).toEqual([]);
  });
});
