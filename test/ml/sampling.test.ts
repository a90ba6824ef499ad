import type { ModelConfig } from '../../spec/run-config';
import { encodePrompt } from '../../ml/dataset';
import { sampleFromLogits, softmax, type TokenSamplingOptions } from '../../ml/filtering';
import { GptModel, type DecodeState, type ForwardOptions } from '../../ml/model';
import { Rng } from '../../ml/rng';
import { generate, generateYielding, type DecodingModel, type GenerateOptions } from '../../ml/sampling';
import { tf, type Tensor1D, type Tensor2D } from '../../ml/tf';
import { ByteTokenizer } from '../../ml/tokenizer';

// Vocabulary of the fake model: three ordinary tokens, then the specials.
const BOS = 3;
const EOS = 4;
const PAD = 5;
const V = 6;

class FakeState implements DecodeState {
  disposed = false;
  constructor(
    public last: Tensor1D, // [B] int32: the last token of each row
    public length: number,
  ) {}
  dispose(): void {
    this.last.dispose();
    this.disposed = true;
  }
}

/**
 * A bigram "model": the next-token logits depend only on the last token, table[last] [V].
 * It holds its state in a tensor so that leaks show in tf.memory(), and records its inputs.
 */
class FakeBigramModel implements DecodingModel {
  prefillInputs: { ids: number[][]; mask: number[][] }[] = [];
  fed: number[][] = [];
  optsSeen: (ForwardOptions | undefined)[] = [];
  states: FakeState[] = [];
  constructor(
    private readonly table: number[][], // [V, V]
    readonly config?: { blockSize: number },
    private readonly throwAtDecodeCall = -1,
  ) {}

  prefill(ids: Tensor2D, mask: Tensor2D, opts?: ForwardOptions): { logits: Tensor2D; state: DecodeState } {
    this.prefillInputs.push({ ids: ids.arraySync(), mask: mask.arraySync() });
    this.optsSeen.push(opts);
    const [b, t] = ids.shape;
    const last = tf.tidy(() => tf.reshape(tf.slice(ids, [0, t - 1], [b, 1]), [b]) as Tensor1D); // [B]
    const state = new FakeState(last, t);
    this.states.push(state);
    return { logits: this.logitsFor(last), state };
  }

  decodeStep(tokens: Tensor1D, state: DecodeState, opts?: ForwardOptions): Tensor2D {
    if (this.fed.length === this.throwAtDecodeCall) throw new Error('simulated model failure');
    this.fed.push(Array.from(tokens.dataSync()));
    this.optsSeen.push(opts);
    const s = state as FakeState;
    s.last.dispose();
    s.last = tf.clone(tokens);
    s.length += 1;
    return this.logitsFor(tokens);
  }

  private logitsFor(last: Tensor1D): Tensor2D {
    return tf.tidy(() => tf.gather(tf.tensor2d(this.table), last) as Tensor2D); // [B, V]
  }
}

const NEG = -10;
/** Greedy chains: BOS → 1 → 2 → EOS; 0 → 0 forever. Second-best tokens are close enough to be sampled. */
const CHAIN_TABLE: number[][] = [
  [3, 0, 0, NEG, 0, NEG], // after 0
  [0, 0, 3, NEG, 0, NEG], // after 1
  [0, 0, 0, NEG, 3, NEG], // after 2
  [0, 3, 0, NEG, 0, NEG], // after BOS
  [0, 0, 0, NEG, 0, NEG], // after EOS (never used)
  [0, 0, 0, NEG, 0, NEG], // after PAD
];

const greedy: GenerateOptions = { maxNewTokens: 5, temperature: 0, topK: 0, topP: 1, eosId: EOS, padId: PAD };

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('generate (sampling loop, fake bigram model)', () => {
  it('greedy: follows the chains, left-pads, feeds PAD to finished rows', () => {
    const model = new FakeBigramModel(CHAIN_TABLE);
    const out = generate(model, [[BOS], [BOS, 0]], greedy, new Rng(1));
    expect(out.responses).toEqual([
      [1, 2, EOS],
      [0, 0, 0, 0, 0],
    ]);
    expect(out.endedWithEos).toEqual([true, false]);
    expect(model.prefillInputs).toEqual([{ ids: [[PAD, BOS], [BOS, 0]], mask: [[0, 1], [1, 1]] }]);
    // Four decode steps for five tokens: the last sampled token is never fed back. Row 0's EOS
    // is fed like any token; after it the row gets PAD.
    expect(model.fed).toEqual([
      [1, 0],
      [2, 0],
      [EOS, 0],
      [PAD, 0],
    ]);
  });

  it('minNewTokens: EOS is never chosen before k tokens (HF min_new_tokens), then allowed again', () => {
    // After 2 the chain wants EOS; with k = 4 the greedy choice is the best non-EOS token instead.
    const model = new FakeBigramModel(CHAIN_TABLE);
    const out = generate(model, [[BOS]], { ...greedy, maxNewTokens: 8, minNewTokens: 4 }, new Rng(1));
    expect(out.responses[0].slice(0, 4)).not.toContain(EOS);
    expect(out.responses[0]).toEqual([1, 2, 0, 0, 0, 0, 0, 0]);
    const free = generate(new FakeBigramModel(CHAIN_TABLE), [[BOS]], { ...greedy, maxNewTokens: 8, minNewTokens: 2 }, new Rng(1));
    expect(free.responses[0]).toEqual([1, 2, EOS]);
    expect(() => generate(new FakeBigramModel(CHAIN_TABLE), [[BOS]], { ...greedy, minNewTokens: -1 }, new Rng(1))).toThrow(/minNewTokens/);
  });

  it('stops as soon as every row has emitted EOS', () => {
    const model = new FakeBigramModel(CHAIN_TABLE);
    const out = generate(model, [[BOS], [0, BOS]], { ...greedy, maxNewTokens: 20 }, new Rng(1));
    expect(out.responses).toEqual([
      [1, 2, EOS],
      [1, 2, EOS],
    ]);
    expect(out.endedWithEos).toEqual([true, true]);
    expect(model.fed).toHaveLength(2);
  });

  it('passes the adapters flag to prefill and every decode step (default true)', () => {
    const model = new FakeBigramModel(CHAIN_TABLE);
    generate(model, [[BOS]], { ...greedy, adapters: false }, new Rng(1));
    expect(model.optsSeen.length).toBeGreaterThan(1);
    for (const o of model.optsSeen) expect(o).toEqual({ adapters: false });
    const model2 = new FakeBigramModel(CHAIN_TABLE);
    generate(model2, [[BOS]], greedy, new Rng(1));
    for (const o of model2.optsSeen) expect(o).toEqual({ adapters: true });
  });

  it('sampling follows the documented Rng order (rows in order, done rows draw nothing)', () => {
    const opts: GenerateOptions = { maxNewTokens: 8, temperature: 1.3, topK: 3, topP: 0.95, eosId: EOS, padId: PAD };
    const prompts = [[BOS], [BOS, 0], [BOS, 2], [0]];
    const out = generate(new FakeBigramModel(CHAIN_TABLE), prompts, opts, new Rng(77));

    // Naive reference: plain arrays, no tensors, same draw order.
    const twin = new Rng(77);
    const last = prompts.map((p) => p[p.length - 1]);
    const expected: number[][] = prompts.map(() => []);
    const done = prompts.map(() => false);
    for (let step = 0; step < opts.maxNewTokens && !done.every(Boolean); step++) {
      for (let b = 0; b < prompts.length; b++) {
        if (done[b]) continue;
        const tokenOpts: TokenSamplingOptions = opts;
        const t = sampleFromLogits(Float32Array.from(CHAIN_TABLE[last[b]]), tokenOpts, twin);
        expected[b].push(t);
        last[b] = t;
        done[b] = t === EOS;
      }
    }
    expect(out.responses).toEqual(expected);
    expect(out.endedWithEos).toEqual(done);
    // The loop really sampled: some row left its greedy chain.
    expect(out.responses).not.toEqual(generate(new FakeBigramModel(CHAIN_TABLE), prompts, { ...opts, temperature: 0 }, new Rng(77)).responses);
  });

  it('same seed, same responses; another seed, other responses', () => {
    const opts: GenerateOptions = { maxNewTokens: 10, temperature: 1, topK: 0, topP: 1, eosId: EOS, padId: PAD };
    const run = (seed: number) => generate(new FakeBigramModel(CHAIN_TABLE), [[BOS], [BOS], [0]], opts, new Rng(seed));
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
  });

  it('rows are sampled independently with the softmax frequencies', () => {
    const opts: GenerateOptions = { maxNewTokens: 1, temperature: 1, topK: 0, topP: 1, eosId: EOS, padId: PAD };
    const n = 3000;
    const out = generate(new FakeBigramModel(CHAIN_TABLE), Array.from({ length: n }, () => [BOS]), opts, new Rng(3));
    const probs = softmax(CHAIN_TABLE[BOS]);
    const counts = new Array<number>(V).fill(0);
    for (const r of out.responses) counts[r[0]]++;
    for (let v = 0; v < V; v++) {
      const se = Math.sqrt((probs[v] * (1 - probs[v])) / n);
      expect(Math.abs(counts[v] / n - probs[v])).toBeLessThanOrEqual(4 * se + 1e-9);
    }
  });

  it('top-k 1 and a tiny top-p give the greedy result', () => {
    const prompts = [[BOS], [BOS, 0], [BOS, 1]];
    const g = generate(new FakeBigramModel(CHAIN_TABLE), prompts, greedy, new Rng(1));
    const k1 = generate(new FakeBigramModel(CHAIN_TABLE), prompts, { ...greedy, temperature: 1, topK: 1 }, new Rng(2));
    const p0 = generate(new FakeBigramModel(CHAIN_TABLE), prompts, { ...greedy, temperature: 1, topP: 1e-6 }, new Rng(3));
    expect(k1).toEqual(g);
    expect(p0).toEqual(g);
  });

  it('leaves tf.memory flat and disposes the cache', () => {
    const model = new FakeBigramModel(CHAIN_TABLE);
    const before = tf.memory().numTensors;
    generate(model, [[BOS], [BOS, 0]], { ...greedy, temperature: 1 }, new Rng(4));
    expect(tf.memory().numTensors).toBe(before);
    expect(model.states.every((s) => s.disposed)).toBe(true);
  });

  it('disposes the cache and leaks nothing when the model throws mid-generation', () => {
    const model = new FakeBigramModel(CHAIN_TABLE, undefined, 2);
    const before = tf.memory().numTensors;
    expect(() => generate(model, [[BOS, 0]], greedy, new Rng(4))).toThrow('simulated model failure');
    expect(tf.memory().numTensors).toBe(before);
    expect(model.states[0].disposed).toBe(true);
  });

  it('maxNewTokens 0 returns empty responses without running the model', () => {
    const model = new FakeBigramModel(CHAIN_TABLE);
    expect(generate(model, [[BOS], [BOS]], { ...greedy, maxNewTokens: 0 }, new Rng(1))).toEqual({
      responses: [[], []],
      endedWithEos: [false, false],
    });
    expect(model.prefillInputs).toHaveLength(0);
  });

  it('rejects empty input and prompts that leave no room in the block', () => {
    const model = new FakeBigramModel(CHAIN_TABLE, { blockSize: 8 });
    const bad = expect.objectContaining({ name: 'ModelInputError', argument: 'promptIds' });
    expect(() => generate(model, [], greedy, new Rng(1))).toThrow(bad);
    expect(() => generate(model, [[BOS], []], greedy, new Rng(1))).toThrow(bad);
    // 4 prompt tokens + 5 new − 1 fed back = 8 positions: fits; one more does not.
    expect(() => generate(model, [[BOS, 0, 0, 0]], greedy, new Rng(1))).not.toThrow();
    expect(() => generate(model, [[BOS, 0, 0, 0, 0]], greedy, new Rng(1))).toThrow(bad);
    expect(() => generate(model, [[BOS]], { ...greedy, maxNewTokens: -1 }, new Rng(1))).toThrow(
      expect.objectContaining({ name: 'ModelInputError', argument: 'maxNewTokens' }),
    );
  });
});

describe('generateYielding (the same loop with a pause per model pass)', () => {
  const opts: GenerateOptions = { maxNewTokens: 8, temperature: 1.3, topK: 3, topP: 0.95, eosId: EOS, padId: PAD };
  const prompts = [[BOS], [BOS, 0], [BOS, 2], [0]];

  it('gives the same responses and leaves the Rng where generate leaves it', async () => {
    const syncRng = new Rng(77);
    const asyncRng = new Rng(77);
    const expected = generate(new FakeBigramModel(CHAIN_TABLE), prompts, opts, syncRng);
    expect(await generateYielding(new FakeBigramModel(CHAIN_TABLE), prompts, opts, asyncRng)).toEqual(expected);
    expect(asyncRng.getState()).toEqual(syncRng.getState());
  });

  it('pauses once after the prefill and once after every decode step, before the next token is read', async () => {
    const model = new FakeBigramModel(CHAIN_TABLE);
    const passesAtPause: number[] = [];
    const out = await generateYielding(model, prompts, opts, new Rng(77), async () => {
      passesAtPause.push(model.prefillInputs.length + model.fed.length);
    });
    const longest = Math.max(...out.responses.map((r) => r.length)); // tokens chosen = model passes
    expect(passesAtPause).toEqual(Array.from({ length: longest }, (_, i) => i + 1));
  });

  it('disposes the cache and leaks nothing when a pause throws', async () => {
    const model = new FakeBigramModel(CHAIN_TABLE);
    const before = tf.memory().numTensors;
    let pauses = 0;
    const failing = async () => {
      if (++pauses === 3) throw new Error('interrupted');
    };
    await expect(generateYielding(model, [[BOS, 0]], greedy, new Rng(4), failing)).rejects.toThrow('interrupted');
    expect(tf.memory().numTensors).toBe(before);
    expect(model.states[0].disposed).toBe(true);
  });

  it('lets timers run during generation with the default pause', async () => {
    let turns = 0;
    const timer = setInterval(() => (turns += 1), 0);
    try {
      const slow = new FakeBigramModel(CHAIN_TABLE);
      // Each pass blocks until the clock has moved past the timer's due time, so every pause finds it due.
      const decodeStep = slow.decodeStep.bind(slow);
      slow.decodeStep = (tokens, state, o) => {
        const start = Date.now();
        while (Date.now() - start < 3);
        return decodeStep(tokens, state, o);
      };
      await generateYielding(slow, [[0]], { ...greedy, maxNewTokens: 6 }, new Rng(1)); // 0 → 0 forever: 5 decode steps
    } finally {
      clearInterval(timer);
    }
    expect(turns).toBeGreaterThanOrEqual(2);
  });
});

describe('generate with the real GptModel (cpu backend)', () => {
  const tok = new ByteTokenizer();
  const cfg: ModelConfig = {
    vocabSize: tok.vocabSize,
    blockSize: 32,
    nLayer: 2,
    nHead: 2,
    nEmbd: 32,
    dropout: 0,
    lora: { rank: 4, alpha: 8, dropout: 0 },
  };
  const prompts = ['Q7: ', 'Q42: ', 'a longer prompt: '].map((p) => encodePrompt(tok, p, 24));
  let model: GptModel;

  beforeAll(() => {
    // Larger-than-init weights (and non-zero LoRA B) so logits are far from uniform and the
    // adapters change the output; otherwise a cache bug could hide in near-zero logits.
    const rng = new Rng(2024);
    model = GptModel.create(cfg, rng);
    const w = model.getWeights();
    for (const data of Object.values(w)) for (let i = 0; i < data.length; i++) data[i] += 0.2 * rng.normal();
    model.setWeights(w);
  });
  afterAll(() => model.dispose());

  /** Records the logits the cache produced at every step, as flat [B * V] copies. */
  class RecordingModel implements DecodingModel {
    steps: Float32Array[] = [];
    constructor(private readonly inner: GptModel) {}
    get config(): { blockSize: number } {
      return this.inner.config;
    }
    prefill(ids: Tensor2D, mask: Tensor2D, opts?: ForwardOptions): { logits: Tensor2D; state: DecodeState } {
      const out = this.inner.prefill(ids, mask, opts);
      this.steps.push(Float32Array.from(out.logits.dataSync()));
      return out;
    }
    decodeStep(tokens: Tensor1D, state: DecodeState, opts?: ForwardOptions): Tensor2D {
      const logits = this.inner.decodeStep(tokens, state, opts);
      this.steps.push(Float32Array.from(logits.dataSync()));
      return logits;
    }
  }

  /** Logits [L, V] of a full (unpadded, uncached) forward pass over one sequence. */
  function fullForwardLogits(seq: number[], adapters: boolean): number[][] {
    return tf.tidy(() => {
      const ids = tf.tensor2d([seq], [1, seq.length], 'int32');
      const mask = tf.ones([1, seq.length]) as Tensor2D;
      const { logits } = model.forward(ids, mask, { adapters });
      return (logits.arraySync() as number[][][])[0];
    });
  }

  it.each([true, false])('cached logits equal a full recompute at every step (adapters %s)', (adapters) => {
    const rec = new RecordingModel(model);
    const opts: GenerateOptions = { maxNewTokens: 8, temperature: 1, topK: 0, topP: 1, eosId: tok.eosId, padId: tok.padId, adapters };
    const out = generate(rec, prompts, opts, new Rng(9));
    const V = tok.vocabSize;
    let maxDiff = 0;
    prompts.forEach((prompt, b) => {
      const response = out.responses[b];
      // The last sampled token was never fed, so the model saw prompt + response[:-1].
      const full = fullForwardLogits([...prompt, ...response.slice(0, -1)], adapters);
      response.forEach((_, j) => {
        const cached = rec.steps[j].subarray(b * V, (b + 1) * V);
        const reference = full[prompt.length - 1 + j];
        for (let v = 0; v < V; v++) maxDiff = Math.max(maxDiff, Math.abs(cached[v] - reference[v]));
      });
    });
    expect(maxDiff).toBeLessThan(1e-4);
    expect(out.responses.every((r) => r.length >= 1 && r.length <= 8)).toBe(true);
  });

  it('the adapters flag changes the distribution (reference policy differs from the policy)', () => {
    const run = (adapters: boolean): Float32Array => {
      const rec = new RecordingModel(model);
      generate(rec, prompts, { ...greedy, maxNewTokens: 1, eosId: tok.eosId, padId: tok.padId, adapters }, new Rng(1));
      return rec.steps[0];
    };
    const on = run(true);
    const off = run(false);
    const maxDiff = on.reduce((m, x, i) => Math.max(m, Math.abs(x - off[i])), 0);
    expect(maxDiff).toBeGreaterThan(0.1);
  });

  it('greedy output of a row does not depend on the other rows (left padding is invisible)', () => {
    const opts: GenerateOptions = { ...greedy, maxNewTokens: 10, eosId: tok.eosId, padId: tok.padId };
    const batched = generate(model, prompts, opts, new Rng(1));
    prompts.forEach((p, b) => {
      expect(generate(model, [p], opts, new Rng(1)).responses[0]).toEqual(batched.responses[b]);
    });
  });

  it('is reproducible from the seed and leaves tf.memory flat', () => {
    const opts: GenerateOptions = { maxNewTokens: 12, temperature: 0.9, topK: 40, topP: 0.95, eosId: tok.eosId, padId: tok.padId };
    const before = tf.memory().numTensors;
    const a = generate(model, prompts, opts, new Rng(31));
    const b = generate(model, prompts, opts, new Rng(31));
    const c = generate(model, prompts, opts, new Rng(32));
    expect(tf.memory().numTensors).toBe(before);
    expect(a).toEqual(b);
    expect(a.responses).not.toEqual(c.responses);
  });

  it('rejects prompts that cannot fit maxNewTokens in blockSize before running the model', () => {
    const before = tf.memory().numTensors;
    const opts: GenerateOptions = { ...greedy, maxNewTokens: 30, eosId: tok.eosId, padId: tok.padId };
    expect(() => generate(model, prompts, opts, new Rng(1))).toThrow(expect.objectContaining({ name: 'ModelInputError' }));
    expect(tf.memory().numTensors).toBe(before);
  });
});
