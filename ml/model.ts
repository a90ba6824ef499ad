/**
 * GPT policy with a value head and LoRA adapters (nanoGPT-shaped decoder-only transformer).
 *
 * - Token + learned position embeddings, pre-LN blocks (causal multi-head self-attention with
 *   a fused qkv projection [C, 3C] and an output projection; GELU MLP of width 4C), final LN,
 *   LM head tied to the token embedding (Radford et al. 2019; karpathy/nanoGPT model.py).
 * - Value head: Linear C → 1 on the final hidden state, as TRL's
 *   AutoModelForCausalLMWithValueHead.
 * - LoRA (Hu et al. 2021) on attn.c_attn, attn.c_proj, mlp.c_fc and mlp.c_proj:
 *   y = x·W + b + (x·A)·B · alpha/r, with B = 0 at init so the adapted model starts equal to
 *   the base. The reference policy is the same model run with `adapters: false`.
 * - Weight layout and names follow HF GPT-2 (Conv1D weights are [in, out]), so a pretrained
 *   GPT-2 state dict maps onto `setWeights` name for name.
 *
 * Masks: ids [B, T] come with a float mask [B, T] (1 = token, 0 = pad). Position ids are
 * cumsum(mask) − 1 clamped at 0 (HF style), so left-padded prompts get the same positions as
 * unpadded ones; keys with mask 0 are never attended to. A pad query attends only to itself,
 * which keeps its (ignored) output finite and free of future tokens.
 */
import { tf } from './tf';
import type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Variable } from './tf';
import { ConfigError, validateModelConfig } from '../spec/run-config';
import type { ModelConfig } from '../spec/run-config';
import type { Rng } from './rng';
import { ModelInputError, WeightShapeError } from './errors';
import { batchMatMul, dense, denseTransposed, embeddingLookup, gelu, layerNorm } from './layers';

export interface ForwardOutput {
  logits: Tensor3D; // [B, T, V]
  values: Tensor2D; // [B, T]
  hidden: Tensor3D; // [B, T, C]
}

/**
 * The variables a pass will be differentiated for: 'full' = every variable, 'lora' =
 * trainableVariables('lora'), 'none' = no variable (inference), or exactly the listed ones
 * (e.g. the optimizer's list).
 */
export type TrainableSelection = 'full' | 'lora' | 'none' | readonly Variable[];

export interface ForwardOptions {
  /** Apply the LoRA adapters (default true). false = the frozen base, i.e. the reference policy. */
  adapters?: boolean;
  /**
   * Which variables the caller differentiates this pass for (default 'full', the behaviour
   * without the option). Every other matrix, its bias and the embedding tables are frozen for
   * the pass: their matmuls and lookups form only activation gradients, no dW, db or table
   * gradient (layers.ts `frozen`), so a gradient asked for one of them comes back absent.
   * Layer-norm parameters go through plain autodiff, which forms a gradient only for the
   * variables asked for anyway. Values and the selected variables' gradients equal 'full''s.
   */
  trainable?: TrainableSelection;
}

/** Per-pass settings threaded through the private layer methods. */
interface Pass {
  adapters: boolean;
  /** true: the named variable gets no gradient in this pass. */
  frozen: (name: string) => boolean;
}

export type VariableGroup = 'base' | 'lora' | 'valueHead';

export interface NamedVariable {
  name: string;
  variable: Variable;
  group: VariableGroup;
}

/** Opaque key/value cache for incremental decoding. */
export interface DecodeState {
  /** Cached sequence length (prompt width including left padding, plus decoded tokens). */
  readonly length: number;
  dispose(): void;
}

/** How each variable is initialised (GPT-2 / nanoGPT `_init_weights`, LoRA per PEFT). */
type Init = 'normal' | 'residual' | 'zeros' | 'ones' | 'loraA';

interface VariableSpec {
  name: string;
  shape: number[];
  init: Init;
  group: VariableGroup;
}

/** The four adapted matrices of a block, by their GPT-2 module path. */
const ADAPTED = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;
type AdaptedPath = (typeof ADAPTED)[number];

/** GPT-2's init std for every Linear and embedding. */
const INIT_STD = 0.02;
/** Additive attention bias for masked keys; exp(−1e9) underflows to exactly 0 in float32. */
const MASKED_BIAS = -1e9;

function adaptedShape(path: AdaptedPath, c: number): [number, number] {
  switch (path) {
    case 'attn.c_attn':
      return [c, 3 * c];
    case 'attn.c_proj':
      return [c, c];
    case 'mlp.c_fc':
      return [c, 4 * c];
    case 'mlp.c_proj':
      return [4 * c, c];
  }
}

/**
 * Every variable in the FIXED order that checkpoints rely on:
 *  1. base: wte.weight, wpe.weight; per layer i: h.i.ln_1.{weight,bias}, h.i.attn.c_attn.{weight,bias},
 *     h.i.attn.c_proj.{weight,bias}, h.i.ln_2.{weight,bias}, h.i.mlp.c_fc.{weight,bias},
 *     h.i.mlp.c_proj.{weight,bias}; then ln_f.{weight,bias};
 *  2. lora (rank > 0 only): per layer i, per adapted path p in ADAPTED order: h.i.p.lora_A [in, r], h.i.p.lora_B [r, out];
 *  3. valueHead: v_head.weight [C, 1], v_head.bias [1].
 */
export function variableSpecs(cfg: ModelConfig): VariableSpec[] {
  const c = cfg.nEmbd;
  const specs: VariableSpec[] = [
    { name: 'wte.weight', shape: [cfg.vocabSize, c], init: 'normal', group: 'base' },
    { name: 'wpe.weight', shape: [cfg.blockSize, c], init: 'normal', group: 'base' },
  ];
  const base = (name: string, shape: number[], init: Init): void => {
    specs.push({ name, shape, init, group: 'base' });
  };
  for (let i = 0; i < cfg.nLayer; i++) {
    const h = `h.${i}`;
    base(`${h}.ln_1.weight`, [c], 'ones');
    base(`${h}.ln_1.bias`, [c], 'zeros');
    for (const p of ADAPTED) {
      if (p === 'mlp.c_fc') {
        base(`${h}.ln_2.weight`, [c], 'ones');
        base(`${h}.ln_2.bias`, [c], 'zeros');
      }
      const [, out] = adaptedShape(p, c);
      // Residual projections are scaled by 1/√(2·nLayer) (GPT-2 paper §2.3; nanoGPT c_proj init).
      base(`${h}.${p}.weight`, adaptedShape(p, c), p.endsWith('c_proj') ? 'residual' : 'normal');
      base(`${h}.${p}.bias`, [out], 'zeros');
    }
  }
  base('ln_f.weight', [c], 'ones');
  base('ln_f.bias', [c], 'zeros');
  const r = cfg.lora.rank;
  if (r > 0) {
    for (let i = 0; i < cfg.nLayer; i++) {
      for (const p of ADAPTED) {
        const [inDim, outDim] = adaptedShape(p, c);
        specs.push({ name: `h.${i}.${p}.lora_A`, shape: [inDim, r], init: 'loraA', group: 'lora' });
        specs.push({ name: `h.${i}.${p}.lora_B`, shape: [r, outDim], init: 'zeros', group: 'lora' });
      }
    }
  }
  specs.push({ name: 'v_head.weight', shape: [c, 1], init: 'normal', group: 'valueHead' });
  specs.push({ name: 'v_head.bias', shape: [1], init: 'zeros', group: 'valueHead' });
  return specs;
}

function initialValues(spec: VariableSpec, cfg: ModelConfig, rng: Rng): Float32Array {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  switch (spec.init) {
    case 'normal':
      return rng.normalArray(size, INIT_STD);
    case 'residual':
      return rng.normalArray(size, INIT_STD / Math.sqrt(2 * cfg.nLayer));
    case 'zeros':
      return new Float32Array(size);
    case 'ones':
      return new Float32Array(size).fill(1);
    case 'loraA': {
      // PEFT's default kaiming_uniform_(a=√5) on A: U(−1/√fan_in, 1/√fan_in).
      const bound = 1 / Math.sqrt(spec.shape[0]);
      const out = new Float32Array(size);
      for (let k = 0; k < size; k++) out[k] = (2 * rng.next() - 1) * bound;
      return out;
    }
  }
}

// A type alias (not an interface) so it fits tf.tidy's TensorContainer.
type LayerKv = {
  k: Tensor4D; // [B, H, L, D]
  v: Tensor4D; // [B, H, L, D]
};

/** The concrete DecodeState: per-layer keys/values, the key mask and each row's next position id. */
class KvCache implements DecodeState {
  private disposed = false;
  constructor(
    public layers: LayerKv[],
    public keyMask: Tensor2D, // [B, L]
    /** Position id of the next token per row (= real tokens so far). */
    public nextPositions: number[],
    readonly adapters: boolean,
    readonly owner: GptModel,
  ) {}

  get length(): number {
    return this.keyMask.shape[1];
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Swaps in the extended cache and frees the old tensors. */
  replace(layers: LayerKv[], keyMask: Tensor2D): void {
    this.disposeTensors();
    this.layers = layers;
    this.keyMask = keyMask;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposeTensors();
    this.disposed = true;
  }

  private disposeTensors(): void {
    for (const l of this.layers) tf.dispose([l.k, l.v]);
    this.keyMask.dispose();
  }
}

/** Additive attention bias [B, 1, Tq, L] from allowed (1) / blocked (0) entries. */
function biasFromAllowed(allowed: Tensor): Tensor {
  return tf.mul(tf.sub(1, allowed), MASKED_BIAS);
}

/**
 * Bias [B, 1, T, T] for a full causal pass over T positions: query i may see key j iff j ≤ i
 * and key j is a token; every query may see itself (only matters for pad queries). Entry:
 * (1 − max(causal[i, j]·mask[b, j], eye[i, j]))·MASKED_BIAS, rounded to float32 at each step
 * as the tensor ops would. Built on the JS side from the small [B, T] mask because the same
 * formula as broadcast tensor ops cost ~5 % of a PPO update on WASM (profiled: Maximum over
 * [B, 1, T, T]); test/ml/model.test.ts checks it equals the tensor formula exactly.
 */
export function causalBias(mask: Tensor2D): Tensor4D {
  const [b, t] = mask.shape;
  const m = mask.dataSync(); // [B·T]
  const bias = new Float32Array(b * t * t); // [B, 1, T, T]
  for (let r = 0; r < b; r++) {
    for (let i = 0; i < t; i++) {
      for (let j = 0; j < t; j++) {
        const seen = j <= i ? m[r * t + j] : 0; // causal · mask
        const allowed = Math.max(seen, i === j ? 1 : 0);
        bias[(r * t + i) * t + j] = Math.fround(Math.fround(1 - allowed) * MASKED_BIAS);
      }
    }
  }
  return tf.tensor4d(bias, [b, 1, t, t]);
}

/** Position ids cumsum(mask) − 1, clamped at 0 (HF GPT-2 with attention_mask). mask [B, T] → int32 [B, T]. */
function positionIds(mask: Tensor2D): Tensor2D {
  return tf.cast(tf.maximum(tf.sub(tf.cumsum(mask, 1), 1), 0), 'int32') as Tensor2D;
}

export class GptModel {
  readonly config: ModelConfig;
  private readonly named: NamedVariable[];
  private readonly byName: Map<string, Variable>;
  private readonly loraScale: number;

  private constructor(config: ModelConfig, named: NamedVariable[]) {
    this.config = config;
    this.named = named;
    this.byName = new Map(named.map((n) => [n.name, n.variable]));
    this.loraScale = config.lora.rank > 0 ? config.lora.alpha / config.lora.rank : 0;
  }

  /** A freshly initialised model; all randomness comes from `rng`, in `variableSpecs` order. */
  static create(config: ModelConfig, rng: Rng): GptModel {
    validateModelConfig(config);
    if (config.dropout !== 0) throw new ConfigError('model.dropout > 0 is not implemented (RLHF fine-tuning runs without it)', 'model.dropout');
    if (config.lora.dropout !== 0) throw new ConfigError('model.lora.dropout > 0 is not implemented', 'model.lora.dropout');
    const cfg = structuredClone(config);
    const named = variableSpecs(cfg).map((spec) => {
      const initial = tf.tensor(initialValues(spec, cfg, rng), spec.shape, 'float32');
      const variable = tf.variable(initial, true); // shares the buffer (ref-counted), so the temporary can go
      initial.dispose();
      return { name: spec.name, group: spec.group, variable };
    });
    return new GptModel(cfg, named);
  }

  /** A model holding the given weights (e.g. loaded from disk). The init draws are overwritten. */
  static fromWeights(config: ModelConfig, weights: Record<string, Float32Array>, rng: Rng): GptModel {
    const model = GptModel.create(config, rng);
    try {
      model.setWeights(weights);
    } catch (err) {
      model.dispose();
      throw err;
    }
    return model;
  }

  namedVariables(): NamedVariable[] {
    return [...this.named];
  }

  /**
   * What training updates, in namedVariables order. 'lora': adapters + value head (the base is
   * frozen); with rank 0 there are no adapters, so the matrices train directly and 'lora' equals
   * 'full'. 'full': every variable.
   */
  trainableVariables(mode: 'lora' | 'full'): Variable[] {
    if (mode === 'full' || this.config.lora.rank === 0) return this.named.map((n) => n.variable);
    return this.named.filter((n) => n.group !== 'base').map((n) => n.variable);
  }

  /** Number of scalar parameters, optionally of one group. */
  parameterCount(group?: VariableGroup): number {
    return this.named.filter((n) => group === undefined || n.group === group).reduce((s, n) => s + n.variable.size, 0);
  }

  getWeights(): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const n of this.named) out[n.name] = Float32Array.from(n.variable.dataSync() as Float32Array);
    return out;
  }

  /**
   * Assigns weights by name. All names must be known and sized right; unless `allowMissing`,
   * every variable must be present. Checked before anything is assigned.
   */
  setWeights(weights: Record<string, Float32Array>, opts: { allowMissing?: boolean } = {}): void {
    for (const [name, data] of Object.entries(weights)) {
      const v = this.byName.get(name);
      if (v === undefined) throw new WeightShapeError(`unknown weight '${name}' for this model config`, name, null, data.length);
      if (data.length !== v.size) {
        throw new WeightShapeError(
          `weight '${name}' has ${data.length} values; expected ${v.size} for shape [${v.shape.join(', ')}]`,
          name,
          v.size,
          data.length,
        );
      }
    }
    if (!opts.allowMissing) {
      const missing = this.named.find((n) => !(n.name in weights));
      if (missing) throw new WeightShapeError(`weight '${missing.name}' is missing`, missing.name, missing.variable.size, null);
    }
    for (const [name, data] of Object.entries(weights)) {
      const v = this.byName.get(name)!;
      tf.tidy(() => v.assign(tf.tensor(data, v.shape, 'float32')));
    }
  }

  /** Folds LoRA into the base: W += A·B·alpha/r, then B = 0 (so adapters on/off agree). */
  mergeLora(): void {
    if (this.config.lora.rank === 0) return;
    tf.tidy(() => {
      for (let i = 0; i < this.config.nLayer; i++) {
        for (const p of ADAPTED) {
          const w = this.v(`h.${i}.${p}.weight`);
          const a = this.v(`h.${i}.${p}.lora_A`);
          const b = this.v(`h.${i}.${p}.lora_B`);
          w.assign(tf.add(w, tf.mul(tf.matMul(a, b), this.loraScale))); // [in, out]
          b.assign(tf.zerosLike(b));
        }
      }
    });
  }

  dispose(): void {
    for (const n of this.named) n.variable.dispose();
  }

  forward(ids: Tensor2D, mask: Tensor2D, opts: ForwardOptions = {}): ForwardOutput {
    this.checkInputs(ids, mask);
    const pass = this.passOf(opts.adapters ?? true, opts.trainable);
    return tf.tidy(() => {
      const { hidden } = this.trunk(ids, positionIds(mask), causalBias(mask), pass, null);
      return {
        logits: this.lmHead(hidden, pass) as Tensor3D, // [B, T, V]
        values: this.valueHead(hidden, pass) as Tensor2D, // [B, T]
        hidden: hidden as Tensor3D, // [B, T, C]
      };
    });
  }

  prefill(ids: Tensor2D, mask: Tensor2D, opts: ForwardOptions = {}): { logits: Tensor2D; state: DecodeState } {
    this.checkInputs(ids, mask);
    const adapters = opts.adapters ?? true;
    const pass = this.passOf(adapters, opts.trainable);
    const [b, t] = ids.shape;
    const countTensor = tf.sum(mask, 1); // [B] real tokens per row
    const counts = Array.from(countTensor.dataSync() as Float32Array, Math.round);
    countTensor.dispose();
    const out = tf.tidy(() => {
      const { hidden, present } = this.trunk(ids, positionIds(mask), causalBias(mask), pass, null);
      const last = tf.reshape(tf.slice(hidden, [0, t - 1, 0], [b, 1, this.config.nEmbd]), [b, this.config.nEmbd]); // [B, C]
      return { logits: this.lmHead(last, pass) as Tensor2D, present, keyMask: tf.clone(mask) };
    });
    return { logits: out.logits, state: new KvCache(out.present, out.keyMask, counts, adapters, this) };
  }

  decodeStep(tokens: Tensor1D, state: DecodeState, opts: ForwardOptions = {}): Tensor2D {
    const cache = this.asCache(state, opts.adapters ?? true);
    const pass = this.passOf(cache.adapters, opts.trainable);
    const b = cache.nextPositions.length;
    if (tokens.rank !== 1 || tokens.shape[0] !== b) {
      throw new ModelInputError(`tokens must be [${b}] (one per cached row), got [${tokens.shape.join(', ')}]`, 'tokens');
    }
    if (tokens.dtype !== 'int32') throw new ModelInputError(`tokens must be int32, got ${tokens.dtype}`, 'tokens');
    const maxPos = Math.max(...cache.nextPositions);
    if (maxPos >= this.config.blockSize) {
      throw new ModelInputError(`position ${maxPos} exceeds blockSize ${this.config.blockSize}`, 'tokens');
    }
    const l = cache.length + 1;
    const out = tf.tidy(() => {
      const ids = tf.reshape(tokens, [b, 1]) as Tensor2D; // [B, 1]
      const pos = tf.tensor2d(cache.nextPositions, [b, 1], 'int32'); // [B, 1]
      const keyMask = tf.concat([cache.keyMask, tf.ones([b, 1])], 1) as Tensor2D; // [B, L+1]
      // The new token may see every cached token and itself.
      const bias = biasFromAllowed(tf.reshape(keyMask, [b, 1, 1, l])) as Tensor4D; // [B, 1, 1, L+1]
      const { hidden, present } = this.trunk(ids, pos, bias, pass, cache.layers);
      return { logits: this.lmHead(tf.reshape(hidden, [b, this.config.nEmbd]), pass) as Tensor2D, present, keyMask };
    });
    cache.replace(out.present, out.keyMask);
    cache.nextPositions = cache.nextPositions.map((p) => p + 1);
    return out.logits;
  }

  // ---------------------------------------------------------------------------------------

  private v(name: string): Variable {
    const found = this.byName.get(name);
    if (found === undefined) throw new WeightShapeError(`model has no variable '${name}'`, name, null, null);
    return found;
  }

  /** The pass settings for `adapters` and a trainable selection (see ForwardOptions.trainable). */
  private passOf(adapters: boolean, trainable: TrainableSelection = 'full'): Pass {
    if (trainable === 'full') return { adapters, frozen: () => false };
    if (trainable === 'none') return { adapters, frozen: () => true };
    const trained = new Set<Variable>(trainable === 'lora' ? this.trainableVariables('lora') : trainable);
    return { adapters, frozen: (name) => !trained.has(this.v(name)) };
  }

  private checkInputs(ids: Tensor2D, mask: Tensor2D): void {
    if (ids.rank !== 2) throw new ModelInputError(`ids must be [B, T], got rank ${ids.rank}`, 'ids');
    if (ids.dtype !== 'int32') throw new ModelInputError(`ids must be int32, got ${ids.dtype}`, 'ids');
    if (mask.rank !== 2 || mask.shape[0] !== ids.shape[0] || mask.shape[1] !== ids.shape[1]) {
      throw new ModelInputError(`mask shape [${mask.shape.join(', ')}] must equal ids shape [${ids.shape.join(', ')}]`, 'mask');
    }
    if (ids.shape[1] > this.config.blockSize) {
      throw new ModelInputError(`sequence length ${ids.shape[1]} exceeds blockSize ${this.config.blockSize}`, 'ids');
    }
  }

  private asCache(state: DecodeState, adapters: boolean): KvCache {
    if (!(state instanceof KvCache) || state.owner !== this) {
      throw new ModelInputError('decode state was not produced by this model’s prefill', 'state');
    }
    if (state.isDisposed) throw new ModelInputError('decode state was disposed', 'state');
    if (state.adapters !== adapters) {
      throw new ModelInputError(`decodeStep adapters=${adapters} but prefill used adapters=${state.adapters}`, 'state');
    }
    return state;
  }

  /**
   * Embeddings → blocks → final LN. ids/pos [B, T], bias [B, 1, T, L] with L = past + T.
   * Returns the final hidden state [B, T, C] and each layer's keys/values over all L positions.
   */
  private trunk(
    ids: Tensor2D,
    pos: Tensor2D,
    bias: Tensor4D,
    pass: Pass,
    past: LayerKv[] | null,
  ): { hidden: Tensor; present: LayerKv[] } {
    const tok = embeddingLookup(this.v('wte.weight') as Tensor2D, ids, { frozen: pass.frozen('wte.weight') }); // [B, T, C]
    const posEmb = embeddingLookup(this.v('wpe.weight') as Tensor2D, pos, { frozen: pass.frozen('wpe.weight') }); // [B, T, C]
    let x: Tensor = tf.add(tok, posEmb); // [B, T, C]
    const present: LayerKv[] = [];
    for (let i = 0; i < this.config.nLayer; i++) {
      const h = `h.${i}`;
      const a = this.attention(layerNorm(x, this.v(`${h}.ln_1.weight`), this.v(`${h}.ln_1.bias`)), i, bias, pass, past?.[i] ?? null);
      present.push(a.kv);
      x = tf.add(x, a.out); // [B, T, C]
      const m = this.mlp(layerNorm(x, this.v(`${h}.ln_2.weight`), this.v(`${h}.ln_2.bias`)), i, pass);
      x = tf.add(x, m); // [B, T, C]
    }
    return { hidden: layerNorm(x, this.v('ln_f.weight'), this.v('ln_f.bias')), present };
  }

  /**
   * x·W + b, plus the LoRA path (x·A)·B·alpha/r when adapters are on. x [..., In] → [..., Out].
   * W and b take the frozen (dx-only) path only when both are frozen.
   */
  private project(x: Tensor, layer: number, p: AdaptedPath, pass: Pass): Tensor {
    const prefix = `h.${layer}.${p}`;
    const baseFrozen = pass.frozen(`${prefix}.weight`) && pass.frozen(`${prefix}.bias`);
    const y = dense(x, this.v(`${prefix}.weight`) as Tensor2D, this.v(`${prefix}.bias`), { frozen: baseFrozen });
    if (!pass.adapters || this.config.lora.rank === 0) return y;
    const down = dense(x, this.v(`${prefix}.lora_A`) as Tensor2D, undefined, { frozen: pass.frozen(`${prefix}.lora_A`) }); // [..., r]
    const up = dense(down, this.v(`${prefix}.lora_B`) as Tensor2D, undefined, { frozen: pass.frozen(`${prefix}.lora_B`) }); // [..., Out]
    return tf.add(y, tf.mul(up, this.loraScale));
  }

  /** Causal multi-head self-attention (Vaswani et al. 2017), softmax(QKᵀ/√D + bias)·V. x [B, T, C]. */
  private attention(
    x: Tensor,
    layer: number,
    bias: Tensor4D,
    pass: Pass,
    past: LayerKv | null,
  ): { out: Tensor; kv: LayerKv } {
    const [b, t, c] = x.shape;
    const nHead = this.config.nHead;
    const d = c / nHead;
    const qkv = this.project(x, layer, 'attn.c_attn', pass); // [B, T, 3C]
    const [q, k, v] = tf.split(qkv, 3, 2); // each [B, T, C]
    const heads = (z: Tensor): Tensor4D => tf.transpose(tf.reshape(z, [b, t, nHead, d]), [0, 2, 1, 3]) as Tensor4D; // [B, H, T, D]
    let kAll = heads(k);
    let vAll = heads(v);
    if (past !== null) {
      kAll = tf.concat([past.k, kAll], 2) as Tensor4D; // [B, H, L, D]
      vAll = tf.concat([past.v, vAll], 2) as Tensor4D; // [B, H, L, D]
    }
    const kT = tf.transpose(kAll, [0, 1, 3, 2]); // [B, H, D, L]
    const scores = tf.add(tf.mul(batchMatMul(heads(q), kT), 1 / Math.sqrt(d)), bias); // [B, H, T, L]
    const att = tf.softmax(scores); // [B, H, T, L]
    const y = batchMatMul(att, vAll); // [B, H, T, D]
    const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [b, t, c]); // [B, T, C]
    return { out: this.project(merged, layer, 'attn.c_proj', pass), kv: { k: kAll, v: vAll } };
  }

  /** GELU MLP of width 4C. x [B, T, C] → [B, T, C]. */
  private mlp(x: Tensor, layer: number, pass: Pass): Tensor {
    return this.project(gelu(this.project(x, layer, 'mlp.c_fc', pass)), layer, 'mlp.c_proj', pass);
  }

  /**
   * Tied LM head: logits = h·wteᵀ. h [..., C] → [..., V]. With wte frozen no [C, V] weight
   * gradient is formed (for every token of every pass, the largest frozen matmul in PPO).
   */
  private lmHead(h: Tensor, pass: Pass): Tensor {
    return denseTransposed(h, this.v('wte.weight') as Tensor2D, { frozen: pass.frozen('wte.weight') });
  }

  /** Value head (TRL ValueHead): h [B, T, C] → [B, T]. */
  private valueHead(h: Tensor, pass: Pass): Tensor {
    const [b, t] = h.shape;
    const frozen = pass.frozen('v_head.weight') && pass.frozen('v_head.bias');
    return tf.reshape(dense(h, this.v('v_head.weight') as Tensor2D, this.v('v_head.bias'), { frozen }), [b, t]);
  }
}
