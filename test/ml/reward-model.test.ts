import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { tf } from '../../ml/tf';
import { initBackend } from '../../ml/backend';
import { resolveRunConfig, type RunConfig } from '../../spec/run-config';
import { Rng } from '../../ml/rng';
import { ByteTokenizer } from '../../ml/tokenizer';
import { splitTrainVal } from '../../spec/train-val-split';
import { pearson } from '../../ml/stats';
import { makeSyntheticFeedback, trueScore } from '../../ml/synthetic-task';
import {
  bradleyTerryLoss,
  lastTokenRewards,
  promptGroupedBatches,
  loadRewardModel,
  rewardObjective,
  samePromptPairs,
  sequenceLanguageModelLoss,
  saveRewardModel,
  splitSelectionTest,
  trainRewardModel,
  type TrainRewardModelResult,
} from '../../ml/reward-model';
import { EarlyStopping, shuffledBatches } from '../../ml/training-loop';
import { runConfigForBase } from '../../spec/base-model';
import { BpeTokenizer } from '../../ml/hf/bpe-tokenizer';
import { loadHfModelDir, type LoadedHfModel } from '../../ml/hf/load';
import { readGpt2Config } from '../../spec/hf-model-config';
import { HfTokenizerFiles } from '../../spec/hf-files';
import type { GptModel } from '../../ml/model';
import { FIXTURE_DIR } from '../hf/fixture';

const SEED = 20240611;
const tok = new ByteTokenizer();
const quietLog = { log: () => undefined };

beforeAll(async () => {
  await initBackend(quietLog);
});

/** −log σ(x), computed directly for the hand check. */
const negLogSigmoid = (x: number): number => -Math.log(1 / (1 + Math.exp(-x)));

describe('Bradley-Terry pairwise loss', () => {
  it('matches the hand-computed value on two pairs', () => {
    // r = [1, 0, 0.5, 2]; pairs: r0 beats r1 (margin 1), r3 beats r2 (margin 1.5).
    // −log σ(1) = 0.313261687518, −log σ(1.5) = 0.201413277982 → mean 0.257337482750.
    const r = tf.tensor1d([1, 0, 0.5, 2]);
    const loss = bradleyTerryLoss(r, [
      { winner: 0, loser: 1 },
      { winner: 3, loser: 2 },
    ]);
    expect(loss.dataSync()[0]).toBeCloseTo(0.25733748275, 6);
    expect(loss.dataSync()[0]).toBeCloseTo((negLogSigmoid(1) + negLogSigmoid(1.5)) / 2, 6);
    tf.dispose([r, loss]);
  });

  it('has the analytic gradient −σ(−margin)/P on the winner and +σ(−margin)/P on the loser', () => {
    const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
    const pairs = [
      { winner: 0, loser: 1 },
      { winner: 3, loser: 2 },
    ];
    const g = tf.grad((r: tf.Tensor) => bradleyTerryLoss(r as tf.Tensor1D, pairs))(tf.tensor1d([1, 0, 0.5, 2]));
    const expected = [-sigmoid(-1) / 2, sigmoid(-1) / 2, sigmoid(-1.5) / 2, -sigmoid(-1.5) / 2];
    Array.from(g.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    g.dispose();
  });

  it('is zero without pairs and adds with its weight to the MSE', () => {
    const r = tf.tensor1d([1, 0, 0.5, 2]);
    const t = tf.tensor1d([0, 0, 0, 0]);
    const pairs = [{ winner: 0, loser: 1 }];
    const none = bradleyTerryLoss(r, []);
    const mseOnly = rewardObjective(r, t, pairs, 0);
    const both = rewardObjective(r, t, pairs, 0.5);
    expect(none.dataSync()[0]).toBe(0);
    expect(mseOnly.dataSync()[0]).toBeCloseTo((1 + 0 + 0.25 + 4) / 4, 6);
    expect(both.dataSync()[0]).toBeCloseTo(5.25 / 4 + 0.5 * negLogSigmoid(1), 6);
    tf.dispose([r, t, none, mseOnly, both]);
  });

  it('pairs only rows with the same prompt and a strictly higher score, winner first', () => {
    const pairs = samePromptPairs([
      { prompt: 'a', score: 1 },
      { prompt: 'b', score: 5 },
      { prompt: 'a', score: 3 },
      { prompt: 'a', score: 3 },
      { prompt: 'b', score: 2 },
    ]);
    expect(pairs).toEqual([
      { winner: 2, loser: 0 },
      { winner: 3, loser: 0 },
      { winner: 1, loser: 4 },
    ]);
  });
});

describe('promptGroupedBatches', () => {
  it('keeps same-prompt rows together, covers every row once, and is seeded', () => {
    const prompts = ['a', 'b', 'c', 'a', 'b', 'a', 'd', 'c', 'a'];
    const batches = promptGroupedBatches(prompts, 4, new Rng(9));
    expect(promptGroupedBatches(prompts, 4, new Rng(9))).toEqual(batches);
    const order = batches.flat();
    expect([...order].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(batches.map((b) => b.length)).toEqual([4, 4, 1]);
    // Each prompt's rows form one contiguous run in the epoch order.
    const runs = order.map((i) => prompts[i]).filter((p, k, all) => k === 0 || all[k - 1] !== p);
    expect(runs.length).toBe(4);
    expect(new Set(runs).size).toBe(4);
  });
});

describe('lastTokenRewards', () => {
  it('reads the value at each row’s last non-pad token (right padding)', () => {
    const values = tf.tensor2d([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10, 11, 12],
    ]);
    const mask = tf.tensor2d([
      [1, 1, 0, 0],
      [1, 1, 1, 1],
      [1, 0, 0, 0],
    ]);
    const r = lastTokenRewards(values, mask);
    expect(Array.from(r.dataSync())).toEqual([2, 8, 9]);
    tf.dispose([values, mask, r]);
  });
});

describe('EarlyStopping and shuffledBatches (training-loop helpers)', () => {
  it('stops after `patience` epochs without a strictly better loss and remembers the best epoch', () => {
    const es = new EarlyStopping(2);
    expect(es.observe(0, 1.0)).toEqual({ improved: true, stop: false });
    expect(es.observe(1, 0.5)).toEqual({ improved: true, stop: false });
    expect(es.observe(2, 0.5)).toEqual({ improved: false, stop: false });
    expect(es.observe(3, Number.NaN)).toEqual({ improved: false, stop: true });
    expect(es.bestEpoch).toBe(1);
    expect(es.bestLoss).toBe(0.5);
  });

  it('covers every row once per epoch in a seeded order', () => {
    const a = shuffledBatches(10, 4, new Rng(5));
    const b = shuffledBatches(10, 4, new Rng(5));
    expect(a).toEqual(b);
    expect(a.map((x) => x.length)).toEqual([4, 4, 2]);
    expect(a.flat().sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a.flat()).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

/** quick preset, shortened so a test file stays well under two minutes on two busy cores. */
function testConfig(epochs: number): RunConfig {
  const cfg = resolveRunConfig('quick', { seed: SEED });
  cfg.reward.epochs = epochs;
  return cfg;
}

describe('trainRewardModel on the synthetic vowel-density task', () => {
  let result: TrainRewardModelResult;
  let valPrompts: { prompt: string; response: string }[];
  let valTrue: number[];
  let valObserved: number[];
  const tensorsAtEpochEnd: number[] = [];
  let dir: string;

  beforeAll(async () => {
    const rng = new Rng(SEED);
    const rows = makeSyntheticFeedback(600, rng, { noiseStd: 0.1, scoreMin: 1, scoreMax: 10 });
    const { train, val } = splitTrainVal(rows, 0.2, rng);
    // The metrics are measured on the validation rows that did not pick the epoch (splitSelectionTest).
    const heldOut = splitSelectionTest(val).test;
    valPrompts = heldOut.map(({ prompt, response }) => ({ prompt, response }));
    valTrue = heldOut.map((r) => trueScore(r.prompt, r.response));
    valObserved = heldOut.map((r) => r.score);
    result = await trainRewardModel({
      train,
      val,
      config: testConfig(12),
      tokenizer: tok,
      rng,
      onProgress: () => {
        tensorsAtEpochEnd.push(tf.memory().numTensors);
      },
    });
    dir = await mkdtemp(path.join(tmpdir(), 'reward-model-'));
  });

  afterAll(async () => {
    result?.model.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reaches validation Pearson ≥ 0.85 against the TRUE score (seed 20240611)', () => {
    const predicted = result.model.score(tok, valPrompts);
    const r = pearson(predicted, valTrue);
    console.info(
      `[reward-model] val Pearson vs true ${r.toFixed(3)}, vs observed ${result.metrics.valPearson.toFixed(3)}, ` +
        `spearman ${result.metrics.valSpearman.toFixed(3)}, valMse ${result.metrics.valMse.toFixed(4)}, ` +
        `valMaeRaw ${result.metrics.valMaeRaw.toFixed(3)}, epochs ${result.metrics.epochsRun} (best ${result.metrics.bestEpoch}), ` +
        `${result.metrics.trainSeconds.toFixed(1)} s, ${Math.round(result.metrics.tokensPerSecond)} tokens/s`,
    );
    expect(r).toBeGreaterThanOrEqual(0.85);
  });

  it('reports consistent metrics on both scales', () => {
    const m = result.metrics;
    expect(m.valPearson).toBeGreaterThan(0.8);
    expect(m.valSpearman).toBeGreaterThan(0.8);
    // Raw scale is 1..10: 4.5 raw units per normalised unit, so MAE scales by 4.5 and MSE by 4.5².
    const span = result.normalization.max - result.normalization.min;
    expect(m.valMaeRaw).toBeCloseTo((m.valMae * span) / 2, 6);
    expect(m.valMseRaw).toBeCloseTo((m.valMse * span * span) / 4, 6);
    expect(m.bestEpoch).toBeGreaterThanOrEqual(0);
    expect(m.bestEpoch).toBeLessThan(m.epochsRun);
    expect(m.stopped).toBe(false);
    expect(m.valRows).toBe(valPrompts.length);
    expect(m.selectionRows + m.valRows).toBe(120);
    expect(m.syntheticNegativeRows).toBe(120); // 0.25 × 480 training rows
    expect(m.trainRows).toBe(480);
    // Raw predictions come back on the users' scale.
    const raw = result.model.scoreRaw(tok, valPrompts);
    expect(pearson(raw, valObserved)).toBeCloseTo(m.valPearson, 6);
  });

  it('leaks no tensor across epochs', () => {
    expect(tensorsAtEpochEnd.length).toBe(result.metrics.epochsRun);
    expect(new Set(tensorsAtEpochEnd).size).toBe(1);
  });

  it('save/load round trip scores bit-identically', async () => {
    await saveRewardModel(dir, result.model, result.normalization, result.metrics, testConfig(12));
    const loaded = await loadRewardModel(dir);
    try {
      expect(loaded.model.score(tok, valPrompts)).toEqual(result.model.score(tok, valPrompts));
      expect(loaded.model.normalization).toEqual(result.normalization);
      expect(loaded.metrics).toEqual(result.metrics);
    } finally {
      loaded.model.dispose();
    }
  });
});

describe('trainRewardModel on pure-noise feedback', () => {
  it('finds no signal: |validation Pearson| stays small', async () => {
    const rng = new Rng(SEED + 1);
    const rows = makeSyntheticFeedback(300, rng, { scoreNoiseOnly: true });
    const { train, val } = splitTrainVal(rows, 0.2, rng);
    const { model, metrics } = await trainRewardModel({ train, val, config: testConfig(6), tokenizer: tok, rng });
    try {
      console.info(`[reward-model] pure noise: val Pearson ${metrics.valPearson.toFixed(3)}`);
      expect(Math.abs(metrics.valPearson)).toBeLessThan(0.3);
    } finally {
      model.dispose();
    }
  });
});

describe('trainRewardModel control', () => {
  it('stops between batches when shouldStop() turns true, keeping a usable model', async () => {
    const rng = new Rng(SEED + 2);
    const rows = makeSyntheticFeedback(80, rng);
    const { train, val } = splitTrainVal(rows, 0.2, rng);
    let calls = 0;
    const { model, metrics } = await trainRewardModel({
      train,
      val,
      config: testConfig(5),
      tokenizer: tok,
      rng,
      shouldStop: () => ++calls > 6, // 64 rows / batch 16 = 4 batches per epoch: stops inside epoch 2
    });
    try {
      expect(metrics.stopped).toBe(true);
      expect(metrics.epochsRun).toBe(2);
      expect(model.score(tok, [{ prompt: 'Q1: ', response: 'aeiou' }]).every(Number.isFinite)).toBe(true);
    } finally {
      model.dispose();
    }
  });

  it('adds the weighted Bradley-Terry term over same-prompt pairs when pairwiseWeight > 0', async () => {
    const rng = new Rng(SEED + 3);
    // Four prompts only, so every batch and the validation set hold same-prompt pairs.
    const rows = makeSyntheticFeedback(80, rng).map((r, i) => ({ ...r, prompt: `Q${i % 4}: ` }));
    const { train, val } = splitTrainVal(rows, 0.25, rng);
    const cfg = testConfig(2);
    cfg.reward.pairwiseWeight = 0.5;
    const { model, metrics } = await trainRewardModel({ train, val, config: cfg, tokenizer: tok, rng });
    try {
      const heldOut = splitSelectionTest(val).test; // the rows the metrics are measured on
      const preds = tf.tensor1d(model.score(tok, heldOut));
      const bt = bradleyTerryLoss(preds, samePromptPairs(heldOut));
      expect(samePromptPairs(heldOut).length).toBeGreaterThan(10);
      expect(metrics.valLoss).toBeCloseTo(metrics.valMse + 0.5 * bt.dataSync()[0], 5);
      expect(metrics.valLoss).toBeGreaterThan(metrics.valMse);
      tf.dispose([preds, bt]);
    } finally {
      model.dispose();
    }
  });

  it('rejects too few rows', async () => {
    const rows = makeSyntheticFeedback(3, new Rng(1));
    await expect(
      trainRewardModel({ train: rows, val: rows.slice(0, 1), config: testConfig(1), tokenizer: tok, rng: new Rng(1) }),
    ).rejects.toMatchObject({ name: 'ConfigError', field: 'valFraction' });
  });
});

/** Weights of `model` whose name passes `keep`. */
function weightsWhere(model: GptModel, keep: (name: string) => boolean): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(model.getWeights()).filter(([name]) => keep(name)));
}

const isAdapter = (name: string): boolean => name.includes('.lora_');
const isHead = (name: string): boolean => name.startsWith('v_head.');

describe('trainRewardModel from an initial trunk (the tiny-gpt2 base with LoRA)', () => {
  let config: RunConfig;
  let base: LoadedHfModel;
  let before: Record<string, Float32Array>;
  let result: TrainRewardModelResult;
  let valPairs: { prompt: string; response: string }[];
  let dir: string;

  beforeAll(async () => {
    config = runConfigForBase(testConfig(2), await readGpt2Config(FIXTURE_DIR));
    base = await loadHfModelDir(FIXTURE_DIR, { lora: config.reward.model.lora, seed: SEED });
    before = base.model.getWeights();
    const rng = new Rng(SEED + 4);
    const rows = makeSyntheticFeedback(60, rng);
    const { train, val } = splitTrainVal(rows, 0.2, rng);
    valPairs = val.map(({ prompt, response }) => ({ prompt, response }));
    result = await trainRewardModel({ train, val, config, tokenizer: base.tokenizer, rng, initialTrunk: base.model });
    dir = await mkdtemp(path.join(tmpdir(), 'reward-model-base-'));
  });

  afterAll(async () => {
    result?.model.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('uses the given trunk with LoRA adapters of the base shape', () => {
    expect(config.reward.trainable).toBe('lora');
    expect(result.model.trunk).toBe(base.model);
    expect(result.model.modelConfig).toEqual(base.config);
    expect(base.model.parameterCount('lora')).toBeGreaterThan(0);
  });

  it('keeps every base weight bit-identical and trains the adapters and the head', () => {
    const after = result.model.trunk.getWeights();
    const baseNames = Object.keys(before).filter((n) => !isAdapter(n) && !isHead(n));
    expect(baseNames).toContain('wte.weight');
    expect(baseNames).toContain('h.1.mlp.c_fc.weight');
    for (const name of baseNames) expect(Buffer.from(after[name].buffer).equals(Buffer.from(before[name].buffer))).toBe(true);
    const moved = (name: string): boolean => after[name].some((x, i) => x !== before[name][i]);
    const adapters = Object.keys(before).filter(isAdapter);
    // B starts at 0 (Hu et al. 2021), so a trained adapter has B ≠ 0.
    expect(adapters.filter((n) => n.endsWith('lora_B')).every(moved)).toBe(true);
    expect(adapters.filter((n) => n.endsWith('lora_A')).some(moved)).toBe(true);
    expect(moved('v_head.weight')).toBe(true);
    expect(result.metrics.epochsRun).toBe(2);
    expect(Number.isFinite(result.metrics.valMse)).toBe(true);
  });

  it('save/load round-trips the base-shaped model with its BPE tokenizer files', async () => {
    await saveRewardModel(dir, result.model, result.normalization, result.metrics, config, { tokenizer: base.tokenizer });
    expect((await readdir(dir)).sort()).toEqual(['bpe', 'config.json', 'metrics.json', 'normalization.json', 'weights']);
    expect(await readdir(path.join(dir, 'bpe'))).toEqual(expect.arrayContaining([HfTokenizerFiles.tokenizerJson, HfTokenizerFiles.vocab, HfTokenizerFiles.merges]));
    const loaded = await loadRewardModel(dir);
    try {
      expect(loaded.model.modelConfig).toEqual(base.config);
      expect(loaded.tokenizer).toBeInstanceOf(BpeTokenizer);
      const text = 'Q3: héllo wörld, banana!';
      expect(loaded.tokenizer!.encode(text)).toEqual(base.tokenizer.encode(text));
      expect([loaded.tokenizer!.bosId, loaded.tokenizer!.eosId, loaded.tokenizer!.padId]).toEqual([base.tokenizer.bosId, base.tokenizer.eosId, base.tokenizer.padId]);
      const baseOnly = (n: string) => !isAdapter(n) && !isHead(n);
      expect(weightsWhere(loaded.model.trunk, baseOnly)).toEqual(weightsWhere(result.model.trunk, baseOnly));
      expect(weightsWhere(loaded.model.trunk, isAdapter)).toEqual(weightsWhere(result.model.trunk, isAdapter));
      expect(loaded.model.score(loaded.tokenizer!, valPairs)).toEqual(result.model.score(base.tokenizer, valPairs));
    } finally {
      loaded.model.dispose();
    }
  });

  it('records the byte tokenizer too, and nothing when saved without one', async () => {
    const byteDir = path.join(dir, 'byte');
    const bareDir = path.join(dir, 'bare');
    await saveRewardModel(byteDir, result.model, result.normalization, result.metrics, config, { tokenizer: tok });
    await saveRewardModel(bareDir, result.model, result.normalization, result.metrics, config);
    const byte = await loadRewardModel(byteDir);
    const bare = await loadRewardModel(bareDir);
    try {
      expect(byte.tokenizer).toBeInstanceOf(ByteTokenizer);
      expect(await readdir(byteDir)).not.toContain('bpe');
      expect(bare.tokenizer).toBeNull();
    } finally {
      byte.model.dispose();
      bare.model.dispose();
    }
  });

  it('refuses a trunk whose shape differs from reward.model, and disposes it', async () => {
    const other = await loadHfModelDir(FIXTURE_DIR, { lora: { rank: 2, alpha: 4, dropout: 0 } });
    const rows = makeSyntheticFeedback(10, new Rng(3));
    await expect(
      trainRewardModel({ train: rows, val: rows, config, tokenizer: other.tokenizer, rng: new Rng(3), initialTrunk: other.model }),
    ).rejects.toMatchObject({ name: 'ConfigError', field: 'reward.model' });
    expect(other.model.namedVariables().every(({ variable }) => variable.isDisposed)).toBe(true);
  });
});

describe('sequenceLanguageModelLoss (the reward trunk\'s auxiliary LM loss)', () => {
  it('is the next-token cross-entropy over the real rows\' non-pad tokens only (synthesised negatives are not text)', () => {
    const logits = tf.tensor3d(Array.from({ length: 2 * 3 * 4 }, (_, i) => Math.sin(i)), [2, 3, 4]);
    const ids = tf.tensor2d([[0, 1, 2], [3, 2, 0]], [2, 3], 'int32');
    const mask = tf.tensor2d([[1, 1, 1], [1, 1, 0]], [2, 3]);
    const logp = (b: number, t: number, v: number) => {
      const row = Array.from({ length: 4 }, (_, k) => Math.sin((b * 3 + t) * 4 + k));
      const max = Math.max(...row);
      return row[v] - max - Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
    };
    const onlyFirst = sequenceLanguageModelLoss(logits, ids, mask, [1, 0]);
    expect(onlyFirst.dataSync()[0]).toBeCloseTo(-(logp(0, 0, 1) + logp(0, 1, 2)) / 2, 5);
    // Both rows: the second row's pad position (t = 2) is not a target.
    const both = sequenceLanguageModelLoss(logits, ids, mask, [1, 1]);
    expect(both.dataSync()[0]).toBeCloseTo(-(logp(0, 0, 1) + logp(0, 1, 2) + logp(1, 0, 2)) / 3, 5);
    tf.dispose([logits, ids, mask, onlyFirst, both]);
  });
});
