import { MetricKeys, type UpdateMetrics } from '../../common/names';
import { initBackend } from '../../ml/backend';
import { effectiveKlHorizon } from '../../spec/run-config';
import { padSequences } from '../../ml/dataset';
import { packSequences, rolloutForward } from '../../ml/ppo-forward';
import { PromptCursor, rolloutPromptIds, scoreResponses } from '../../ml/ppo-rollout';
import { PpoTrainer } from '../../ml/ppo-trainer';
import type { RewardModel } from '../../ml/reward-model';
import { Rng } from '../../ml/rng';
import { generate } from '../../ml/sampling';
import { tf } from '../../ml/tf';
import { ByteTokenizer } from '../../ml/tokenizer';
import { disposeOptions, tinyRunConfig, tinyTrainerOptions } from './fixtures/ppo-setup';

const TIME_KEYS = new Set<string>([MetricKeys.timeRollout, MetricKeys.timeUpdate, MetricKeys.timeTotal]);
const withoutTimes = (m: UpdateMetrics) => Object.fromEntries(Object.entries(m).filter(([k]) => !TIME_KEYS.has(k)));

beforeAll(async () => {
  await initBackend({ log: () => undefined });
});

describe('PromptCursor', () => {
  it('visits every prompt once per pass, reshuffles between passes, and resumes from its state', () => {
    const rng = new Rng(3);
    const cursor = PromptCursor.create(5, rng);
    const firstPass = cursor.take(5, rng);
    expect([...firstPass].sort()).toEqual([0, 1, 2, 3, 4]);
    const state = cursor.getState();
    const rngState = rng.getState();
    const next = cursor.take(7, rng);
    expect([...next.slice(0, 5)].sort()).toEqual([0, 1, 2, 3, 4]);
    const resumed = PromptCursor.fromState(5, state);
    expect(resumed.take(7, Rng.fromState(rngState))).toEqual(next);
    expect(cursor.getState().pass).toBe(2);
  });

  it('rejects a state that does not fit the prompt list', () => {
    const rng = new Rng(3);
    const state = PromptCursor.create(5, rng).getState();
    expect(() => PromptCursor.fromState(6, state)).toThrow(expect.objectContaining({ name: 'PpoStateError', field: 'cursor' }));
  });
});

describe('rollout pieces', () => {
  it('packSequences marks exactly the positions that predict response tokens', () => {
    const packed = packSequences({ queries: [[256, 65], [256, 66, 67, 68]], responses: [[1, 2, 257], [9]] }, 258);
    expect(packed.ids.shape).toEqual([2, 5]);
    // Row 0: seq [BOS A 1 2 EOS], response tokens at 2..4 → shifted positions 1..3.
    // Row 1: seq [BOS B C D 9], response token at 4 → shifted position 3.
    expect(Array.from(packed.responseMask.dataSync())).toEqual([0, 1, 1, 1, 0, 0, 0, 1]);
    expect(Array.from(packed.attentionMask.dataSync())).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    tf.dispose([packed.ids, packed.attentionMask, packed.responseMask]);
  });

  it('rolloutForward gives every response token the log-prob it was sampled with (policy) and the adapters-off one (reference)', () => {
    const opts = tinyTrainerOptions();
    const { policy, tokenizer: tok } = opts;
    // Non-zero adapters, so the policy and the reference differ.
    const rng = new Rng(5);
    for (const { name, variable } of policy.namedVariables()) {
      if (name.endsWith('lora_B')) variable.assign(tf.tensor(rng.normalArray(variable.size, 0.3), variable.shape));
    }
    const generation = { maxNewTokens: 6, temperature: 1, topK: 0, topP: 1 };
    const queries = opts.prompts.slice(0, 4).map((p) => rolloutPromptIds(tok, p, policy.config.blockSize, generation.maxNewTokens));
    const { responses } = generate(policy, queries, { ...generation, eosId: tok.eosId, padId: tok.padId }, new Rng(9));
    const packed = packSequences({ queries, responses }, tok.padId);
    const fwd = rolloutForward(policy, packed, generation.temperature);
    const logprobs = fwd.logprobs.arraySync();
    const refLogprobs = fwd.refLogprobs.arraySync();
    const mask = packed.responseMask.arraySync();
    // The sampling path: prefill on left-padded prompts, then feed the sampled tokens one by one.
    const samplingLogprobs = (adapters: boolean): number[][] => {
      const out = responses.map(() => [] as number[]);
      const padded = padSequences(queries, tok.padId, 'left');
      const ids = tf.tensor2d(padded.ids, [padded.batch, padded.length], 'int32');
      const attention = tf.tensor2d(padded.mask, [padded.batch, padded.length]);
      const first = policy.prefill(ids, attention, { adapters });
      let logits = first.logits; // [B, V]
      for (let t = 0; t < generation.maxNewTokens; t++) {
        const rows = tf.tidy(() => tf.logSoftmax(logits)).arraySync() as number[][];
        responses.forEach((r, b) => t < r.length && out[b].push(rows[b][r[t]]));
        const next = tf.tensor1d(responses.map((r) => r[t] ?? tok.padId), 'int32');
        logits.dispose();
        logits = policy.decodeStep(next, first.state, { adapters });
        next.dispose();
      }
      tf.dispose([logits, ids, attention]);
      first.state.dispose();
      return out;
    };
    const sampledPolicy = samplingLogprobs(true);
    const sampledReference = samplingLogprobs(false);
    responses.forEach((r, b) => {
      const positions = mask[b].flatMap((m, t) => (m === 1 ? [t] : []));
      expect(positions).toEqual(r.map((_, i) => queries[b].length - 1 + i));
      positions.forEach((t, i) => {
        expect(logprobs[b][t]).toBeCloseTo(sampledPolicy[b][i], 4);
        expect(refLogprobs[b][t]).toBeCloseTo(sampledReference[b][i], 4);
      });
    });
    expect(Math.max(...responses.flatMap((r, b) => r.map((_, i) => Math.abs(sampledPolicy[b][i] - sampledReference[b][i]))))).toBeGreaterThan(1e-2);
    tf.dispose([packed.ids, packed.attentionMask, packed.responseMask, fwd.logprobs, fwd.refLogprobs, fwd.values]);
    disposeOptions(opts);
  });

  it('missingEosPenalty replaces the score of rows that never emitted EOS, and only those', () => {
    const reward = { score: (_t: unknown, pairs: unknown[]) => pairs.map((_, i) => 0.1 * (i + 1)) } as unknown as RewardModel;
    const deps = { reward, tokenizer: new ByteTokenizer(), prompts: ['a', 'b', 'c'] };
    const sampled = { queries: [[256], [256], [256]], responses: [[97, 257], [98], [99, 257]], endedWithEos: [true, false, true] };
    expect(scoreResponses({ ...deps, missingEosPenalty: -3 }, [0, 1, 2], sampled)).toEqual([0.1, -3, expect.closeTo(0.3, 12)]);
    expect(scoreResponses({ ...deps, missingEosPenalty: null }, [0, 1, 2], sampled)).toEqual([0.1, 0.2, expect.closeTo(0.3, 12)]);
  });
});

describe('PpoTrainer', () => {
  it('emits exactly the MetricKeys, all finite; the first update sees zero KL (adapters start at B = 0)', async () => {
    const opts = tinyTrainerOptions();
    const trainer = PpoTrainer.create(opts);
    const m1 = await trainer.step();
    expect(Object.keys(m1).sort()).toEqual(Object.values(MetricKeys).sort());
    for (const v of Object.values(m1)) expect(Number.isFinite(v)).toBe(true);
    expect(m1[MetricKeys.klObjective]).toBe(0);
    expect(m1[MetricKeys.klCoef]).toBe(opts.config.ppo.initKlCoef);
    expect(m1[MetricKeys.rlhfReward]).toBeCloseTo(m1[MetricKeys.scores], 12);
    expect(m1[MetricKeys.responseLength]).toBeGreaterThanOrEqual(1);
    expect(m1[MetricKeys.responseLength]).toBeLessThanOrEqual(opts.config.ppo.generation.maxNewTokens);
    expect(trainer.updatesDone).toBe(1);
    // Adaptive controller (Ziegler et al. 2019): KL 0 < target, so β shrinks by the clipped 20% × n/horizon.
    const { initKlCoef, batchSize } = opts.config.ppo;
    const klHorizon = effectiveKlHorizon(opts.config.ppo); // klHorizon 0: derived from the planned updates
    expect(trainer.klCoef).toBe(initKlCoef * (1 + (-0.2 * batchSize) / klHorizon));
    const m2 = await trainer.step();
    expect(m2[MetricKeys.klObjective]).not.toBe(0); // the adapters moved
    expect(m2[MetricKeys.klCoef]).toBe(initKlCoef * (1 + (-0.2 * batchSize) / klHorizon));
    trainer.dispose();
    disposeOptions(opts);
  });

  it('trains only the adapters and the value head', async () => {
    const opts = tinyTrainerOptions();
    const before = opts.policy.getWeights();
    const trainer = PpoTrainer.create(opts);
    await trainer.step();
    await trainer.step();
    const after = opts.policy.getWeights();
    const changed = (name: string) => before[name].some((x, i) => x !== after[name][i]);
    for (const { name, group } of opts.policy.namedVariables()) {
      if (group === 'base') expect({ name, changed: changed(name) }).toEqual({ name, changed: false });
    }
    const trained = opts.policy.namedVariables().filter((n) => n.group !== 'base' && changed(n.name));
    expect(trained.some((n) => n.group === 'lora')).toBe(true);
    expect(trained.some((n) => n.group === 'valueHead')).toBe(true);
    trainer.dispose();
    disposeOptions(opts);
  });

  it('skips every minibatch when the ratio threshold is below 1 and then leaves the weights alone', async () => {
    const config = tinyRunConfig();
    config.ppo.ratioThreshold = 0.5; // the mean ratio is ≈ 1, so always above
    const opts = tinyTrainerOptions(11, config);
    const before = opts.policy.getWeights();
    const trainer = PpoTrainer.create(opts);
    const m = await trainer.step();
    const { batchSize, miniBatchSize, ppoEpochs } = config.ppo;
    expect(m[MetricKeys.skippedMinibatches]).toBe((ppoEpochs * batchSize) / miniBatchSize);
    const after = opts.policy.getWeights();
    for (const name of Object.keys(before)) expect(Array.from(after[name])).toEqual(Array.from(before[name]));
    trainer.dispose();
    disposeOptions(opts);
  });

  it('setKl changes the coefficient the next update uses, and the target', async () => {
    const opts = tinyTrainerOptions();
    const trainer = PpoTrainer.create(opts);
    trainer.setKl({ coef: 0.5, target: 3 });
    expect(trainer.klTarget).toBe(3);
    const m = await trainer.step();
    expect(m[MetricKeys.klCoef]).toBe(0.5);
    expect(() => trainer.setKl({ coef: -1 })).toThrow(RangeError);
    trainer.dispose();
    disposeOptions(opts);
  });

  it('gives the event loop a turn after every minibatch of the update (heartbeats run during long updates)', async () => {
    const config = tinyRunConfig();
    config.ppo = { ...config.ppo, batchSize: 4, miniBatchSize: 1, ppoEpochs: 4, generation: { ...config.ppo.generation, maxNewTokens: 1 } };
    const opts = tinyTrainerOptions(11, config);
    const trainer = PpoTrainer.create(opts);
    // A self-rescheduling immediate runs once per event-loop turn the step gives away.
    let turns = 0;
    let counting = true;
    const count = () => {
      turns += 1;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    await trainer.step();
    counting = false;
    // 16 minibatches; the rollout (1 token) and the phase boundaries add only 3 turns.
    expect(turns).toBeGreaterThanOrEqual(16);
    trainer.dispose();
    disposeOptions(opts);
  });

  it('holds no tensors across updates (tensor count flat)', async () => {
    const opts = tinyTrainerOptions();
    const trainer = PpoTrainer.create(opts);
    await trainer.step();
    const after1 = tf.memory().numTensors;
    await trainer.step();
    await trainer.step();
    expect(tf.memory().numTensors).toBe(after1);
    trainer.dispose();
    disposeOptions(opts);
  });

  it('restore continues exactly where toCheckpoint left off (same process)', async () => {
    const a = tinyTrainerOptions();
    const full = PpoTrainer.create(a);
    await full.step();
    await full.step();
    const ckpt = full.toCheckpoint();
    const next = [await full.step(), await full.step()];
    const expectedWeights = a.policy.getWeights();

    const b = tinyTrainerOptions(); // same seed: the same SFT policy, reward model and prompts
    const resumed = PpoTrainer.restore(b, structuredClone(ckpt));
    expect(resumed.updatesDone).toBe(2);
    const again = [await resumed.step(), await resumed.step()];
    expect(again.map(withoutTimes)).toEqual(next.map(withoutTimes));
    const gotWeights = b.policy.getWeights();
    for (const name of Object.keys(expectedWeights)) {
      expect(Buffer.from(gotWeights[name].buffer).equals(Buffer.from(expectedWeights[name].buffer))).toBe(true);
    }
    [full, resumed].forEach((t) => t.dispose());
    [a, b].forEach(disposeOptions);
  });

  it('restore refuses another prompt list or another SFT policy', async () => {
    const a = tinyTrainerOptions();
    const trainer = PpoTrainer.create(a);
    await trainer.step();
    const ckpt = trainer.toCheckpoint();
    const otherPrompts = { ...tinyTrainerOptions(), prompts: [...a.prompts].reverse() };
    expect(() => PpoTrainer.restore(otherPrompts, ckpt)).toThrow(expect.objectContaining({ name: 'PpoStateError', field: 'prompts' }));
    const otherPolicy = { ...tinyTrainerOptions(12), prompts: a.prompts };
    expect(() => PpoTrainer.restore(otherPolicy, ckpt)).toThrow(expect.objectContaining({ name: 'PpoStateError', field: 'frozenWeights' }));
    expect(() => PpoTrainer.restore(a, { tensors: ckpt.tensors, state: { format: 'other' } })).toThrow(
      expect.objectContaining({ name: 'PpoStateError', field: 'format' }),
    );
    trainer.dispose();
    [a, otherPrompts, otherPolicy].forEach(disposeOptions);
  });
});
