/**
 * What to expect from a GPT-2-small-sized base on CPU (issue 7): tokens/s of a forward pass,
 * of one LoRA training step (adapters + value head train, the base frozen) and of KV-cache
 * generation, plus the time to load the directory through `loadHfModelDir`.
 *
 * The base is made here, never downloaded: GPT-2 small's shape (12 layers, d = 768, 12 heads,
 * 1024 positions, vocabulary 50257; 124M parameters) with random weights, written as a
 * Hugging Face directory (model.safetensors + config.json + tokenizer files), where the BPE
 * vocabulary and merges are random too (256 byte symbols, 50000 merges of random token pairs,
 * `<|endoftext|>`). Throughput does not depend on the weights' values.
 *
 * Run: `npx tsx bench/hf-base.ts` (about 5 minutes on 2 shared cores). Writes the
 * `hf-base` section of bench/RESULTS.md. Every figure is a median with its min-max spread;
 * runs per figure are in the table (≥ 5 where a run takes seconds, fewer for the slow ones).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ModelConfig } from '../spec/run-config';
import { initBackend } from '../ml/backend';
import { BpeTokenizer, type BpeTokenizerSpec } from '../ml/hf/bpe-tokenizer';
import { BYTE_TO_CHAR } from '../ml/hf/byte-level';
import { gpt2ConfigFor } from '../spec/hf-model-config';
import { writeSafetensors } from '../ml/hf/safetensors';
import { hfTokenizerFiles } from '../ml/hf/tokenizer-files';
import { HfWeightFiles } from '../spec/hf-files';
import { loadHfModelDir } from '../ml/hf/load';
import { HF_CONFIG_FILE } from '../spec/hf-files';
import { DEFAULT_HF_LORA } from '../spec/hf-model-config';
import { type GptModel, variableSpecs } from '../ml/model';
import { AdamW } from '../ml/optimizer';
import { Rng } from '../ml/rng';
import { generate } from '../ml/sampling';
import { maskedTokenCrossEntropy } from '../ml/sft';
import { tf } from '../ml/tf';
import { gradientStep } from '../ml/training-loop';
import { machineLine, mdTable, writeSection } from './lib/results';
import { summarize, type Summary } from './lib/stats';

/** GPT-2 small (Radford et al. 2019; HF `gpt2` config.json). */
const GPT2_SMALL: ModelConfig = { vocabSize: 50257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768, dropout: 0, lora: { rank: 0, alpha: 0, dropout: 0 } };
const EOS = '<|endoftext|>';

/** Workload sizes: a PPO-sized batch of short sequences, as the pipeline runs them. */
const FORWARD = { batch: 2, seqLen: 64, runs: 5 };
const TRAIN = { batch: 1, seqLen: 64, runs: 3 };
const GENERATE = { batch: 4, promptLen: 32, newTokens: 32, runs: 3 };
const LOAD_RUNS = 1;

/** A random byte-level BPE: every byte symbol, then merges of random token pairs until `vocabSize − 1` tokens, then EOS. */
function randomBpe(vocabSize: number, rng: Rng): BpeTokenizer {
  const tokens = [...BYTE_TO_CHAR];
  const seen = new Set(tokens);
  const merges: [string, string][] = [];
  while (tokens.length < vocabSize - 1) {
    // Half the pairs use a token from the newest quarter, so merged tokens grow beyond two bytes.
    const pick = (): string => tokens[rng.next() < 0.5 ? rng.int(tokens.length) : tokens.length - 1 - rng.int(Math.ceil(tokens.length / 4))];
    const a = pick();
    const b = pick();
    if (seen.has(a + b) || (a + b).length > 16) continue;
    seen.add(a + b);
    tokens.push(a + b);
    merges.push([a, b]);
  }
  const spec: BpeTokenizerSpec = {
    vocab: new Map([...tokens, EOS].map((t, i) => [t, i])),
    merges,
    addedTokens: [{ id: tokens.length, content: EOS, special: true }],
    bosToken: EOS,
    eosToken: EOS,
    padToken: null,
    addPrefixSpace: false,
    source: 'bench/hf-base (random)',
  };
  return new BpeTokenizer(spec);
}

/**
 * Writes the random GPT-2-small directory; returns its size in bytes. The weights are made as
 * plain arrays and written straight to safetensors, never as tfjs tensors: the WASM backend's
 * heap is bounded, and a 124M model built there and copied for the export would take 1 GB of it
 * before the measurements start. LayerNorm gains are 1 (GPT-2's init), everything else N(0, 0.02²).
 */
async function makeBase(dir: string): Promise<number> {
  const rng = new Rng(124);
  const tokenizer = randomBpe(GPT2_SMALL.vocabSize, rng);
  const tensors = variableSpecs(GPT2_SMALL)
    .filter((v) => v.group === 'base')
    .map((v) => {
      const n = v.shape.reduce((a, b) => a * b, 1);
      const data = /ln_\w*\.weight$/.test(v.name) ? new Float32Array(n).fill(1) : rng.normalArray(n, 0.02);
      return { name: `transformer.${v.name}`, shape: v.shape, data };
    });
  await fs.mkdir(dir, { recursive: true });
  await writeSafetensors(path.join(dir, HfWeightFiles.single), tensors, { format: 'pt' });
  const special = { bosId: tokenizer.bosId, eosId: tokenizer.eosId };
  await fs.writeFile(path.join(dir, HF_CONFIG_FILE), JSON.stringify(gpt2ConfigFor(GPT2_SMALL, special)));
  for (const [file, content] of Object.entries(hfTokenizerFiles(tokenizer, GPT2_SMALL.blockSize))) await fs.writeFile(path.join(dir, file), content);
  const files = await fs.readdir(dir);
  const sizes = await Promise.all(files.map(async (f) => (await fs.stat(path.join(dir, f))).size));
  return sizes.reduce((a, b) => a + b, 0);
}

const randomIds = (rng: Rng, rows: number, len: number, vocab: number): number[][] =>
  Array.from({ length: rows }, () => Array.from({ length: len }, () => rng.int(vocab - 1)));

/** Median seconds of `runs` timed calls after one warm-up call. */
async function timed(runs: number, fn: () => void | Promise<void>): Promise<Summary> {
  await fn();
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    xs.push((performance.now() - t0) / 1000);
  }
  return summarize(xs);
}

/** Forward pass, adapters on: logits for every position. */
function forwardOnce(model: GptModel, ids: number[][]): void {
  tf.tidy(() => {
    const x = tf.tensor2d(ids, undefined, 'int32'); // [B, T]
    const mask = tf.cast(tf.onesLike(x), 'float32') as tf.Tensor2D; // [B, T]
    model.forward(x, mask).logits.dataSync(); // [B, T, V]
  });
}

/** Next-token cross-entropy with the adapters on (the policy's LM loss), every position a target. */
function lmLoss(model: GptModel, ids: number[][]): tf.Scalar {
  return tf.tidy(() => {
    const [B, T] = [ids.length, ids[0].length];
    const x = tf.tensor2d(ids, undefined, 'int32'); // [B, T]
    const mask = tf.cast(tf.onesLike(x), 'float32') as tf.Tensor2D; // [B, T]
    const { logits } = model.forward(x, mask); // [B, T, V]
    const V = logits.shape[2];
    const predicting = tf.slice(logits, [0, 0, 0], [B, T - 1, V]) as tf.Tensor3D; // [B, T-1, V]
    const labels = tf.slice(x, [0, 1], [B, T - 1]) as tf.Tensor2D; // [B, T-1]
    return maskedTokenCrossEntropy(predicting, labels, tf.ones([B, T - 1]) as tf.Tensor2D);
  });
}

const fmt = (s: Summary, digits = 2): string => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})`;
const perSecond = (tokens: number, s: Summary): Summary => summarize([tokens / s.max, tokens / s.median, tokens / s.min]);
const tokFmt = (tokens: number, s: Summary): string => {
  const r = perSecond(tokens, s);
  return `${r.median.toFixed(1)} (${r.min.toFixed(1)}-${r.max.toFixed(1)})`;
};

async function main(): Promise<void> {
  const backend = await initBackend({ log: () => undefined });
  console.log(`backend ${backend.name}`);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rlhf-bench-gpt2-small-'));
  try {
    const t0 = performance.now();
    const bytes = await makeBase(dir);
    console.log(`made base: ${(bytes / 2 ** 20).toFixed(0)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // One load: each load builds the model in the WASM heap, and repeated 0.5 GB allocations
    // there leave it too fragmented for the training step below.
    const tLoad = performance.now();
    const loaded = await loadHfModelDir(dir, { lora: DEFAULT_HF_LORA, seed: 1 });
    const loads = [(performance.now() - tLoad) / 1000];
    const load = summarize(loads);
    console.log(`load ${fmt(load)} s`);
    const { model } = loaded;
    const params = model.namedVariables().reduce((n, v) => n + (v.group === 'base' ? v.variable.size : 0), 0);
    const rng = new Rng(7);

    const fwdIds = randomIds(rng, FORWARD.batch, FORWARD.seqLen, GPT2_SMALL.vocabSize);
    const forward = await timed(FORWARD.runs, () => forwardOnce(model, fwdIds));
    console.log(`forward ${fmt(forward)} s`);

    const vars = model.trainableVariables('lora');
    const trainable = vars.reduce((n, v) => n + v.size, 0);
    const optimizer = new AdamW(vars, { learningRate: 1e-4, warmupSteps: 0, decay: 'none', maxGradNorm: 1, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    const trainIds = randomIds(rng, TRAIN.batch, TRAIN.seqLen, GPT2_SMALL.vocabSize);
    const train = await timed(TRAIN.runs, () => {
      gradientStep({ vars, optimizer, lossFn: () => lmLoss(model, trainIds), maxGradNorm: 1, learningRate: 1e-4 });
    });
    optimizer.dispose();
    console.log(`train step ${fmt(train)} s`);

    const prompts = randomIds(rng, GENERATE.batch, GENERATE.promptLen, GPT2_SMALL.vocabSize);
    const eosId = GPT2_SMALL.vocabSize - 1;
    // eosId out of reach of top-k 0 sampling is not guaranteed, so count the tokens actually generated.
    let generated = 0;
    const gen = await timed(GENERATE.runs, () => {
      const out = generate(model, prompts, { maxNewTokens: GENERATE.newTokens, temperature: 1, topK: 0, topP: 1, eosId, padId: eosId }, new Rng(3));
      generated = out.responses.reduce((n, r) => n + r.length, 0);
    });
    console.log(`generate ${fmt(gen)} s for ${generated} tokens`);
    model.dispose();

    const rows = [
      ['load `loadHfModelDir` (safetensors → tfjs)', `${(bytes / 2 ** 20).toFixed(0)} MiB directory`, LOAD_RUNS, `${fmt(load)} s`, '-'],
      ['forward (adapters on, all logits)', `B=${FORWARD.batch}, T=${FORWARD.seqLen}`, FORWARD.runs, `${fmt(forward)} s`, tokFmt(FORWARD.batch * FORWARD.seqLen, forward)],
      ['LoRA training step (fwd + bwd + AdamW)', `B=${TRAIN.batch}, T=${TRAIN.seqLen}, r=${DEFAULT_HF_LORA.rank}`, TRAIN.runs, `${fmt(train)} s`, tokFmt(TRAIN.batch * TRAIN.seqLen, train)],
      ['KV-cache generation (prefill + decode)', `B=${GENERATE.batch}, prompt ${GENERATE.promptLen}, ${GENERATE.newTokens} new`, GENERATE.runs, `${fmt(gen)} s`, `${tokFmt(generated, gen)} new tokens/s`],
    ];
    const body = [
      '## GPT-2-small-sized base on CPU (issue 7)',
      '',
      `**CPU figures** (no GPU), tfjs backend **${backend.name}** (${backend.package}). ${machineLine()}`,
      '',
      `Model: GPT-2 small's shape (${GPT2_SMALL.nLayer} layers, d=${GPT2_SMALL.nEmbd}, ${GPT2_SMALL.nHead} heads, vocabulary ${GPT2_SMALL.vocabSize}; ` +
        `${(params / 1e6).toFixed(1)}M base parameters), random weights and a random BPE vocabulary/merges made locally, ` +
        `written as safetensors and loaded through \`loadHfModelDir\` with LoRA r=${DEFAULT_HF_LORA.rank} ` +
        `(${(trainable / 1e6).toFixed(2)}M trainable: adapters + value head). Seconds are median (min-max) of the runs shown after one warm-up; ` +
        'tokens/s is tokens in the batch over those seconds. Fewer than 5 runs for the training step and generation, which take tens of seconds each; loading is timed once (no warm-up) because repeated 0.5 GB loads fragment the WASM heap.',
      '',
      mdTable(['what', 'workload', 'runs', 'seconds', 'tokens/s'], rows),
      '',
      'Reading it: on CPU one PPO update of the `quick` preset shape (16 rollouts of 16 new tokens, 4 epochs) on this base costs about ' +
        'generation of 256 tokens plus 4 training passes over 16 sequences, i.e. minutes per update; a GPU, or the `tensorflow` backend ' +
        '(`@tensorflow/tfjs-node`, not installed here), is the way to run GPT-2-small-sized bases for real.',
    ].join('\n');
    await writeSection('hf-base', body);
    console.log(body);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
