import type { ModelConfig } from '../../spec/run-config';
import { causalMask } from '../../ml/layers';
import { causalBias, GptModel } from '../../ml/model';
import type { ForwardOptions } from '../../ml/model';
import { Rng } from '../../ml/rng';
import { tf } from '../../ml/tf';
import type { Tensor, Tensor2D } from '../../ml/tf';
import { TEST_BACKENDS, useBackend } from './fixtures/backends';

/** Tiny model: fast on cpu, still two layers, two heads and LoRA. */
const cfg: ModelConfig = {
  vocabSize: 13,
  blockSize: 12,
  nLayer: 2,
  nHead: 2,
  nEmbd: 8,
  dropout: 0,
  lora: { rank: 2, alpha: 4, dropout: 0 },
};

const maxAbsDiff = (a: Tensor, b: Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const ids2d = (rows: number[][]): Tensor2D => tf.tensor2d(rows, [rows.length, rows[0].length], 'int32');
const mask2d = (rows: number[][]): Tensor2D => tf.tensor2d(rows, [rows.length, rows[0].length], 'float32');

/** Sets every LoRA B to random values so the adapters change the function. */
function randomiseLoraB(model: GptModel, seed: number): void {
  const rng = new Rng(seed);
  const w: Record<string, Float32Array> = {};
  for (const n of model.namedVariables()) if (n.name.endsWith('lora_B')) w[n.name] = rng.normalArray(n.variable.size, 0.3);
  model.setWeights(w, { allowMissing: true });
}

let model: GptModel;
beforeAll(async () => {
  await tf.setBackend('cpu');
  model = GptModel.create(cfg, new Rng(42));
});
afterAll(() => model.dispose());


/** Two rows of token ids with left padding (row 0) and right padding (row 1), and their attention mask. */
const PADDED_IDS = [
  [0, 1, 5, 9, 2, 3],
  [4, 4, 8, 12, 1, 0],
];
const PADDED_MASK = [
  [0, 1, 1, 1, 1, 1],
  [1, 1, 1, 1, 0, 0],
];

describe('structure', () => {
  it('forward returns logits [B,T,V], values [B,T], hidden [B,T,C]', () => {
    const out = model.forward(ids2d([[1, 2, 3], [4, 5, 6]]), mask2d([[1, 1, 1], [1, 1, 0]]));
    expect(out.logits.shape).toEqual([2, 3, 13]);
    expect(out.values.shape).toEqual([2, 3]);
    expect(out.hidden.shape).toEqual([2, 3, 8]);
    tf.dispose([out.logits, out.values, out.hidden]);
  });

  it('lists variables in the documented fixed order with groups', () => {
    const names = model.namedVariables().map((n) => n.name);
    expect(names.slice(0, 4)).toEqual(['wte.weight', 'wpe.weight', 'h.0.ln_1.weight', 'h.0.ln_1.bias']);
    expect(names.slice(2, 14)).toEqual([
      'h.0.ln_1.weight', 'h.0.ln_1.bias', 'h.0.attn.c_attn.weight', 'h.0.attn.c_attn.bias', 'h.0.attn.c_proj.weight',
      'h.0.attn.c_proj.bias', 'h.0.ln_2.weight', 'h.0.ln_2.bias', 'h.0.mlp.c_fc.weight', 'h.0.mlp.c_fc.bias',
      'h.0.mlp.c_proj.weight', 'h.0.mlp.c_proj.bias',
    ]);
    expect(names.slice(-2)).toEqual(['v_head.weight', 'v_head.bias']);
    const groups = model.namedVariables().map((n) => n.group);
    // base first, then lora (2 layers × 4 matrices × A,B), then value head
    expect(groups.filter((g) => g === 'lora')).toHaveLength(16);
    expect(groups.indexOf('lora')).toBeGreaterThan(groups.lastIndexOf('base'));
    expect(model.namedVariables().find((n) => n.name === 'h.1.mlp.c_fc.lora_A')!.variable.shape).toEqual([8, 2]);
    expect(model.namedVariables().find((n) => n.name === 'h.1.mlp.c_fc.lora_B')!.variable.shape).toEqual([2, 32]);
  });

  it("trainableVariables: 'lora' = adapters + value head, 'full' = everything, both in fixed order", () => {
    const named = model.namedVariables();
    expect(model.trainableVariables('lora')).toEqual(named.filter((n) => n.group !== 'base').map((n) => n.variable));
    expect(model.trainableVariables('full')).toEqual(named.map((n) => n.variable));
    const noLora = GptModel.create({ ...cfg, lora: { rank: 0, alpha: 0, dropout: 0 } }, new Rng(1));
    expect(noLora.trainableVariables('lora')).toHaveLength(noLora.namedVariables().length);
    noLora.dispose();
  });

  it('initialises reproducibly from the Rng, GPT-2 style', () => {
    const a = GptModel.create({ ...cfg, nEmbd: 32 }, new Rng(3));
    const b = GptModel.create({ ...cfg, nEmbd: 32 }, new Rng(3));
    const c = GptModel.create({ ...cfg, nEmbd: 32 }, new Rng(4));
    const wa = a.getWeights();
    expect(b.getWeights()).toEqual(wa);
    expect(c.getWeights()['wte.weight']).not.toEqual(wa['wte.weight']);
    const std = (x: Float32Array): number => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(wa['h.0.attn.c_attn.weight'])).toBeCloseTo(0.02, 2);
    expect(std(wa['h.0.mlp.c_proj.weight']) / std(wa['h.0.mlp.c_fc.weight'])).toBeCloseTo(1 / Math.sqrt(2 * cfg.nLayer), 1);
    expect(Array.from(wa['h.0.ln_1.weight'])).toEqual(new Array(32).fill(1));
    expect(wa['h.0.attn.c_attn.lora_B'].every((v) => v === 0)).toBe(true);
    expect(wa['h.0.attn.c_attn.lora_A'].some((v) => v !== 0)).toBe(true);
    [a, b, c].forEach((m) => m.dispose());
  });

  it('ties the LM head to the token embedding', () => {
    const out = model.forward(ids2d([[1, 7, 3]]), mask2d([[1, 1, 1]]));
    const wte = model.namedVariables()[0].variable;
    const expected = tf.einsum('btc,vc->btv', out.hidden, wte);
    expect(maxAbsDiff(out.logits, expected)).toBeLessThan(1e-5);
    tf.dispose([out.logits, out.values, out.hidden, expected]);
  });
});

describe('LoRA', () => {
  it('adapters off equals the base model; adapters on differ once B ≠ 0; mergeLora folds them in', () => {
    const m = GptModel.create(cfg, new Rng(5));
    const ids = ids2d([[1, 2, 3, 4], [5, 6, 7, 8]]);
    const mask = mask2d([[1, 1, 1, 1], [0, 1, 1, 1]]);
    const base = m.forward(ids, mask, { adapters: false });
    randomiseLoraB(m, 9);
    const off = m.forward(ids, mask, { adapters: false });
    const on = m.forward(ids, mask);
    expect(maxAbsDiff(off.logits, base.logits)).toBe(0);
    expect(maxAbsDiff(off.values, base.values)).toBe(0);
    expect(maxAbsDiff(on.logits, base.logits)).toBeGreaterThan(1e-2);
    m.mergeLora();
    const mergedOn = m.forward(ids, mask);
    const mergedOff = m.forward(ids, mask, { adapters: false });
    expect(maxAbsDiff(mergedOn.logits, on.logits)).toBeLessThan(1e-5);
    expect(maxAbsDiff(mergedOff.logits, on.logits)).toBeLessThan(1e-5);
    expect(maxAbsDiff(mergedOn.values, on.values)).toBeLessThan(1e-5);
    m.dispose();
  });

  it('gradients reach only what the mode trains', () => {
    const m = GptModel.create(cfg, new Rng(6));
    const ids = ids2d([[1, 2, 3, 4]]);
    const mask = mask2d([[1, 1, 1, 1]]);
    const loss = (adapters: boolean) => (): tf.Scalar => {
      const o = m.forward(ids, mask, { adapters });
      return tf.add(tf.mean(tf.square(o.logits)), tf.mean(tf.square(o.values))) as tf.Scalar;
    };
    const named = m.namedVariables();
    const all = named.map((n) => n.variable);
    const normOf = (g: Record<string, Tensor>, name: string): number => {
      const grad = g[named.find((n) => n.name === name)!.variable.name];
      // variableGrads leaves out variables the loss does not reach: no gradient at all.
      return grad === undefined || grad === null ? 0 : tf.tidy(() => tf.norm(grad).dataSync()[0]);
    };
    // With adapters on: lora_B (and the value head) get gradient; lora_A gets none while B = 0.
    const on = tf.variableGrads(loss(true), all);
    expect(normOf(on.grads, 'h.0.attn.c_attn.lora_B')).toBeGreaterThan(0);
    expect(normOf(on.grads, 'h.0.attn.c_attn.lora_A')).toBe(0);
    expect(normOf(on.grads, 'v_head.weight')).toBeGreaterThan(0);
    expect(normOf(on.grads, 'h.1.mlp.c_fc.weight')).toBeGreaterThan(0);
    // The reference path (adapters off) never touches the adapters.
    const off = tf.variableGrads(loss(false), all);
    for (const n of named.filter((x) => x.group === 'lora')) expect(normOf(off.grads, n.name)).toBe(0);
    // In 'lora' mode the gradient list is exactly the adapters + value head.
    const lora = tf.variableGrads(loss(true), m.trainableVariables('lora'));
    expect(Object.keys(lora.grads).sort()).toEqual(m.trainableVariables('lora').map((v) => v.name).sort());
    tf.dispose([on.value, off.value, lora.value, ...Object.values(on.grads), ...Object.values(off.grads), ...Object.values(lora.grads)]);
    m.dispose();
  });
});

describe('trainable selection (frozen weights get no gradient work)', () => {
  const ids = PADDED_IDS;
  const mask = PADDED_MASK;
  /** Loss over logits and values with fixed random weights, so every output matters. */
  function gradsWith(m: GptModel, vars: tf.Variable[], opts: ForwardOptions): { loss: number; grads: Record<string, Float32Array> } {
    const rng = new Rng(71);
    const rLogits = tf.tensor3d(rng.normalArray(2 * 6 * cfg.vocabSize, 1), [2, 6, cfg.vocabSize]);
    const rValues = tf.tensor2d(rng.normalArray(12, 1), [2, 6]);
    const { value, grads } = tf.variableGrads(() => {
      const o = m.forward(ids2d(ids), mask2d(mask), opts);
      return tf.add(tf.sum(tf.mul(o.logits, rLogits)), tf.sum(tf.mul(o.values, rValues))) as tf.Scalar;
    }, vars);
    const out = { loss: value.dataSync()[0], grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.dataSync() as Float32Array])) };
    tf.dispose([value, rLogits, rValues, ...Object.values(grads)]);
    return out;
  }
  const nameOf = (m: GptModel) => new Map(m.namedVariables().map((n) => [n.variable.name, n.name]));

  it("'lora' and the optimizer's list give the trainable variables exactly the default path's gradients", () => {
    const m = GptModel.create(cfg, new Rng(61));
    randomiseLoraB(m, 62); // so lora_A gets gradient too
    const vars = m.trainableVariables('lora');
    const before = gradsWith(m, vars, {});
    expect(Object.keys(before.grads).sort()).toEqual(vars.map((v) => v.name).sort());
    for (const trainable of ['lora', vars] as const) {
      const after = gradsWith(m, vars, { trainable });
      expect(after.loss).toBe(before.loss);
      expect(Object.keys(after.grads).sort()).toEqual(Object.keys(before.grads).sort());
      for (const [name, g] of Object.entries(before.grads)) expect(after.grads[name]).toEqual(g);
    }
    m.dispose();
  });

  it("with 'lora', frozen matrices, biases and embeddings get no gradient; 'full' (and the default) gives every one", () => {
    const m = GptModel.create(cfg, new Rng(63));
    randomiseLoraB(m, 64);
    const all = m.namedVariables().map((n) => n.variable);
    const names = nameOf(m);
    const denseOrTable = (n: string) => !/ln_(1|2|f)\./.test(n);
    const frozenHit = (g: Record<string, Float32Array>) =>
      Object.keys(g)
        .map((k) => names.get(k)!)
        .filter((n) => m.namedVariables().find((x) => x.name === n)!.group === 'base' && denseOrTable(n));
    const lora = gradsWith(m, all, { trainable: 'lora' });
    expect(frozenHit(lora.grads)).toEqual([]);
    const full = gradsWith(m, all, { trainable: 'full' });
    const byDefault = gradsWith(m, all, {});
    expect(frozenHit(full.grads).length).toBe(m.namedVariables().filter((n) => n.group === 'base' && denseOrTable(n.name)).length);
    expect(Object.keys(full.grads).sort()).toEqual(all.map((v) => v.name).sort());
    for (const [name, g] of Object.entries(byDefault.grads)) expect(full.grads[name]).toEqual(g);
    // The gradients lora does give (adapters, value head, layer norms through autodiff) are the full pass's.
    for (const [name, g] of Object.entries(lora.grads)) expect(g).toEqual(full.grads[name]);
    m.dispose();
  });

  it("an explicit list freezes everything else; 'none' changes no value of forward, prefill or decodeStep", () => {
    const m = GptModel.create(cfg, new Rng(65));
    randomiseLoraB(m, 66);
    const byName = new Map(m.namedVariables().map((n) => [n.name, n.variable]));
    const picked = ['h.1.mlp.c_fc.lora_B', 'v_head.weight', 'h.0.attn.c_attn.weight'].map((n) => byName.get(n)!);
    const all = m.namedVariables().map((n) => n.variable);
    const listed = gradsWith(m, all, { trainable: picked });
    const full = gradsWith(m, all, {});
    for (const v of picked) expect(listed.grads[v.name]).toEqual(full.grads[v.name]);
    expect(listed.grads[byName.get('wte.weight')!.name]).toBeUndefined();
    expect(listed.grads[byName.get('h.1.mlp.c_fc.lora_A')!.name]).toBeUndefined();
    expect(listed.grads[byName.get('v_head.bias')!.name]).toBeDefined(); // its weight is listed, so the head is differentiated
    // No option changes values.
    const a = m.forward(ids2d(ids), mask2d(mask), { trainable: 'none' });
    const b = m.forward(ids2d(ids), mask2d(mask));
    expect(Array.from(a.logits.dataSync())).toEqual(Array.from(b.logits.dataSync()));
    expect(Array.from(a.values.dataSync())).toEqual(Array.from(b.values.dataSync()));
    const p1 = m.prefill(ids2d(ids), mask2d(mask), { trainable: 'none' });
    const p2 = m.prefill(ids2d(ids), mask2d(mask));
    expect(Array.from(p1.logits.dataSync())).toEqual(Array.from(p2.logits.dataSync()));
    const tok = tf.tensor1d([3, 7], 'int32');
    const d1 = m.decodeStep(tok, p1.state, { trainable: 'none' });
    const d2 = m.decodeStep(tok, p2.state);
    expect(Array.from(d1.dataSync())).toEqual(Array.from(d2.dataSync()));
    p1.state.dispose();
    p2.state.dispose();
    tf.dispose([a.logits, a.values, a.hidden, b.logits, b.values, b.hidden, p1.logits, p2.logits, tok, d1, d2]);
    m.dispose();
  });
});

describe('masks and positions', () => {
  it('causalBias equals the broadcast tensor formula (1 − max(causal·mask, eye))·(−1e9) exactly', () => {
    const mask = mask2d([
      [0, 0, 1, 1, 1],
      [1, 1, 1, 0, 0],
      [0, 0, 0, 0, 0],
      [1, 1, 1, 1, 1],
    ]);
    const [b, t] = mask.shape;
    const expected = tf.tidy(() => {
      const keys = tf.reshape(mask, [b, 1, 1, t]); // [B, 1, 1, T]
      const allowed = tf.maximum(tf.mul(tf.reshape(causalMask(t), [1, 1, t, t]), keys), tf.reshape(tf.eye(t), [1, 1, t, t]));
      return tf.mul(tf.sub(1, allowed), -1e9); // [B, 1, T, T]
    });
    const bias = causalBias(mask);
    expect(bias.shape).toEqual([b, 1, t, t]);
    expect(Array.from(bias.dataSync())).toEqual(Array.from(expected.dataSync()));
    tf.dispose([mask, expected, bias]);
  });

  it('left padding does not change the logits of the real tokens', () => {
    const plain = model.forward(ids2d([[3, 4, 5]]), mask2d([[1, 1, 1]]));
    const padded = model.forward(ids2d([[12, 12, 3, 4, 5]]), mask2d([[0, 0, 1, 1, 1]]));
    const realPart = tf.slice(padded.logits, [0, 2, 0], [1, 3, cfg.vocabSize]);
    expect(maxAbsDiff(realPart, plain.logits)).toBeLessThan(1e-5);
    tf.dispose([plain.logits, plain.values, plain.hidden, padded.logits, padded.values, padded.hidden, realPart]);
  });

  it('right padding (training batches) does not change earlier positions', () => {
    const plain = model.forward(ids2d([[3, 4]]), mask2d([[1, 1]]));
    const padded = model.forward(ids2d([[3, 4, 12, 12]]), mask2d([[1, 1, 0, 0]]));
    expect(maxAbsDiff(tf.slice(padded.values, [0, 0], [1, 2]), plain.values)).toBeLessThan(1e-5);
    tf.dispose([plain.logits, plain.values, plain.hidden, padded.logits, padded.values, padded.hidden]);
  });

  it('rejects malformed inputs with ModelInputError', () => {
    const tooLong = ids2d([new Array(cfg.blockSize + 1).fill(1)]);
    expect(() => model.forward(tooLong, mask2d([new Array(cfg.blockSize + 1).fill(1)]))).toThrow(
      expect.objectContaining({ name: 'ModelInputError', argument: 'ids' }),
    );
    expect(() => model.forward(tf.tensor2d([[1, 2]]), mask2d([[1, 1]]))).toThrow(/int32/);
    expect(() => model.forward(ids2d([[1, 2]]), mask2d([[1, 1, 1]]))).toThrow(expect.objectContaining({ argument: 'mask' }));
  });
});

describe('KV-cache decoding', () => {
  const prompts = [
    [0, 0, 1, 2, 3], // left-padded: mask 0 at the front
    [4, 5, 6, 7, 8],
    [0, 0, 0, 9, 10],
  ];
  const promptMask = [
    [0, 0, 1, 1, 1],
    [1, 1, 1, 1, 1],
    [0, 0, 0, 1, 1],
  ];
  const next = [
    [11, 2, 3, 4, 1],
    [1, 1, 12, 5, 6],
    [7, 8, 9, 10, 11],
  ];

  describe.each(TEST_BACKENDS)('on %s', (backend) => {
    useBackend(backend);
    it.each([true, false])('prefill + decodeStep equal a full forward (adapters %s), left-padded rows included', (adapters) => {
      const m = GptModel.create(cfg, new Rng(11));
      randomiseLoraB(m, 12);
      const { logits: first, state } = m.prefill(ids2d(prompts), mask2d(promptMask), { adapters });
      const stepLogits: Tensor[] = [first];
      for (let s = 0; s < next[0].length; s++) {
        stepLogits.push(m.decodeStep(tf.tensor1d(next.map((r) => r[s]), 'int32'), state, { adapters }));
      }
      expect(state.length).toBe(prompts[0].length + next[0].length);
      const fullIds = prompts.map((p, i) => [...p, ...next[i]]);
      const fullMask = promptMask.map((p) => [...p, ...next[0].map(() => 1)]);
      const full = m.forward(ids2d(fullIds), mask2d(fullMask), { adapters });
      const t0 = prompts[0].length - 1;
      stepLogits.forEach((l, s) => {
        const ref = tf.reshape(tf.slice(full.logits, [0, t0 + s, 0], [3, 1, cfg.vocabSize]), [3, cfg.vocabSize]);
        expect(maxAbsDiff(l, ref)).toBeLessThan(1e-4);
      });
      state.dispose();
      m.dispose();
    });
  });

  it('refuses a state from another adapters setting, a disposed state, and positions past blockSize', () => {
    const { logits, state } = model.prefill(ids2d([[1, 2]]), mask2d([[1, 1]]));
    const tok = tf.tensor1d([3], 'int32');
    expect(() => model.decodeStep(tok, state, { adapters: false })).toThrow(expect.objectContaining({ name: 'ModelInputError' }));
    for (let i = 0; i < cfg.blockSize - 2; i++) model.decodeStep(tok, state).dispose();
    expect(() => model.decodeStep(tok, state)).toThrow(/blockSize/);
    state.dispose();
    expect(() => model.decodeStep(tok, state)).toThrow(/disposed/);
    tf.dispose([logits, tok]);
  });

  it('leaks no tensors across forward, prefill, decode and dispose', () => {
    const ids = ids2d(prompts);
    const mask = mask2d(promptMask);
    const tok = tf.tensor1d([1, 2, 3], 'int32');
    const before = tf.memory().numTensors;
    const out = model.forward(ids, mask);
    tf.dispose([out.logits, out.values, out.hidden]);
    const { logits, state } = model.prefill(ids, mask);
    logits.dispose();
    for (let i = 0; i < 3; i++) model.decodeStep(tok, state).dispose();
    state.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([ids, mask, tok]);
  });
});

describe('weights', () => {
  it('getWeights/setWeights round-trip into a fresh model', () => {
    const src = GptModel.create(cfg, new Rng(20));
    randomiseLoraB(src, 21);
    const dst = GptModel.fromWeights(cfg, src.getWeights(), new Rng(99));
    const ids = ids2d([[1, 2, 3]]);
    const mask = mask2d([[1, 1, 1]]);
    expect(maxAbsDiff(src.forward(ids, mask).logits, dst.forward(ids, mask).logits)).toBe(0);
    src.dispose();
    dst.dispose();
  });

  it('setWeights names the offending tensor', () => {
    const w = model.getWeights();
    expect(() => model.setWeights({ ...w, 'h.0.ln_1.weight': new Float32Array(3) })).toThrow(
      expect.objectContaining({ name: 'WeightShapeError', tensorName: 'h.0.ln_1.weight', expectedSize: 8, actualSize: 3 }),
    );
    expect(() => model.setWeights({ ...w, 'h.9.nope': new Float32Array(1) })).toThrow(expect.objectContaining({ tensorName: 'h.9.nope' }));
    const partial = { ...w };
    delete partial['v_head.bias'];
    expect(() => model.setWeights(partial)).toThrow(expect.objectContaining({ tensorName: 'v_head.bias' }));
    // Nothing was assigned by the failed calls.
    expect(model.getWeights()).toEqual(w);
  });
});

/**
 * An independent GPT written with plain tf ops (tf.gather, tf.matMul with transpose flags,
 * tf.moments, per-head loops, a JS-built mask). Weights in namedVariables order.
 */
function referenceForward(c: ModelConfig, w: Record<string, Tensor>, ids: number[][], mask: number[][]): { logits: Tensor; values: Tensor } {
  const B = ids.length;
  const T = ids[0].length;
  const C = c.nEmbd;
  const H = c.nHead;
  const D = C / H;
  const scale = c.lora.alpha / c.lora.rank;
  const pos = mask.map((row) => {
    let s = 0;
    return row.map((m) => Math.max((s += m) - 1, 0));
  });
  const bias = tf.tensor3d(
    mask.map((row) => Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => ((j <= i && row[j] === 1) || i === j ? 0 : -1e9)))),
  ); // [B, T, T]
  const ln = (x: Tensor, p: string): Tensor => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), w[`${p}.weight`]), w[`${p}.bias`]);
  };
  const lin = (x: Tensor, p: string): Tensor => {
    const x2 = tf.reshape(x, [B * T, -1]) as Tensor2D;
    let y = tf.add(tf.matMul(x2, w[`${p}.weight`] as Tensor2D), w[`${p}.bias`]);
    y = tf.add(y, tf.mul(tf.matMul(tf.matMul(x2, w[`${p}.lora_A`] as Tensor2D), w[`${p}.lora_B`] as Tensor2D), scale));
    return tf.reshape(y, [B, T, -1]);
  };
  let x = tf.add(tf.gather(w['wte.weight'], tf.tensor2d(ids, [B, T], 'int32')), tf.gather(w['wpe.weight'], tf.tensor2d(pos, [B, T], 'int32')));
  for (let l = 0; l < c.nLayer; l++) {
    const qkv = lin(ln(x, `h.${l}.ln_1`), `h.${l}.attn.c_attn`);
    const heads: Tensor[] = [];
    for (let h = 0; h < H; h++) {
      const q = tf.slice(qkv, [0, 0, h * D], [B, T, D]);
      const k = tf.slice(qkv, [0, 0, C + h * D], [B, T, D]);
      const v = tf.slice(qkv, [0, 0, 2 * C + h * D], [B, T, D]);
      const att = tf.softmax(tf.add(tf.div(tf.matMul(q, k, false, true), Math.sqrt(D)), bias));
      heads.push(tf.matMul(att, v));
    }
    x = tf.add(x, lin(tf.concat(heads, 2), `h.${l}.attn.c_proj`));
    const hMid = lin(ln(x, `h.${l}.ln_2`), `h.${l}.mlp.c_fc`);
    const g = tf.mul(tf.mul(hMid, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(hMid, tf.mul(0.044715, tf.pow(hMid, 3)))))));
    x = tf.add(x, lin(g, `h.${l}.mlp.c_proj`));
  }
  const hidden = tf.reshape(ln(x, 'ln_f'), [B * T, C]) as Tensor2D;
  return {
    logits: tf.reshape(tf.matMul(hidden, w['wte.weight'] as Tensor2D, false, true), [B, T, c.vocabSize]),
    values: tf.reshape(tf.add(tf.matMul(hidden, w['v_head.weight'] as Tensor2D), w['v_head.bias']), [B, T]),
  };
}

describe.each(TEST_BACKENDS)('against a plain-op reference implementation (%s)', (backend) => {
  useBackend(backend);
  it('forward and backward agree to 1e-5', () => {
    expect(tf.getBackend()).toBe(backend);
    const m = GptModel.create(cfg, new Rng(31));
    randomiseLoraB(m, 32);
    const ids = PADDED_IDS;
    const mask = PADDED_MASK;
    const rng = new Rng(33);
    const rLogits = tf.tensor3d(rng.normalArray(2 * 6 * cfg.vocabSize, 1), [2, 6, cfg.vocabSize]);
    const rValues = tf.tensor2d(rng.normalArray(12, 1), [2, 6]);
    const lossOf = (logits: Tensor, values: Tensor): tf.Scalar => tf.add(tf.sum(tf.mul(logits, rLogits)), tf.sum(tf.mul(values, rValues))) as tf.Scalar;

    const named = m.namedVariables();
    const mine = tf.variableGrads(() => {
      const o = m.forward(ids2d(ids), mask2d(mask));
      return lossOf(o.logits, o.values);
    }, named.map((n) => n.variable));
    const weights = named.map((n) => tf.tensor(n.variable.dataSync(), n.variable.shape));
    const asRecord = (ts: Tensor[]): Record<string, Tensor> => Object.fromEntries(named.map((n, i) => [n.name, ts[i]]));
    const refOut = referenceForward(cfg, asRecord(weights), ids, mask);
    const myOut = m.forward(ids2d(ids), mask2d(mask));
    expect(maxAbsDiff(myOut.logits, refOut.logits)).toBeLessThan(1e-5);
    expect(maxAbsDiff(myOut.values, refOut.values)).toBeLessThan(1e-5);
    const refGrads = tf.grads((...ws: Tensor[]) => {
      const o = referenceForward(cfg, asRecord(ws), ids, mask);
      return lossOf(o.logits, o.values);
    })(weights);
    expect(mine.value.dataSync()[0]).toBeCloseTo(lossOf(refOut.logits, refOut.values).dataSync()[0], 3);
    named.forEach((n, i) => {
      const g = mine.grads[n.variable.name];
      // 1e-5 relative to the gradient's scale (wte's entries reach ~10; float32 sums over B·T·V terms).
      const scale = Math.max(1, tf.tidy(() => tf.max(tf.abs(refGrads[i])).dataSync()[0]));
      const diff = maxAbsDiff(g, refGrads[i]) / scale;
      if (diff >= 1e-5) throw new Error(`gradient of ${n.name} differs by ${diff} (scale ${scale})`);
    });
    m.dispose();
  });
});
