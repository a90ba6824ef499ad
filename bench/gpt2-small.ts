/**
 * GPT-2 small's shape on CPU, side by side (issue 10): native TensorFlow (`tensorflow`), WASM and
 * PyTorch (bench/reference/gpt2_small.py, same maths) on the three workloads
 *   - forward, B=2, T=64, adapters on, logits for every position (no gradient);
 *   - one LoRA training step, B=1, T=64: next-token cross-entropy on every position, adapters +
 *     value head train (base frozen, as PPO and PyTorch's requires_grad=False), clip, AdamW;
 *   - KV-cache generation of 32 new tokens after 4 prompts of 32 tokens;
 * plus (`--ppo`) one PPO update of GPT-2 small's shape with the `quick` preset's batch shape
 * (16 rollouts of 16 new tokens after 16-token prompts, policy + reference forward, 4 epochs of
 * 2 minibatches of 8), its peak RSS, and a projection of 1,000 updates.
 *
 * Each backend runs in its own child process (a backend is process-global, and each child's peak
 * RSS is its own), one after the other, so all figures come from one run of the script.
 * Model: GPT-2 small (12 layers, d=768, 12 heads, vocabulary 50257; 124M) with random weights and
 * LoRA r=8, alpha 16; speed does not depend on the weights' values.
 *
 *   npx tsx bench/gpt2-small.ts [--runs 5] [--backends tensorflow,wasm,pytorch] [--ppo] [--no-write]
 * PyTorch needs .cache/bench-venv (bench/lib/python.ts names how to make it); 2 threads, as the
 * native backend's intra-op pool on this machine.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../ml/backend';
import { resolveRunConfig, type ModelConfig } from '../spec/run-config';
import { GptModel } from '../ml/model';
import { AdamW } from '../ml/optimizer';
import { Rng } from '../ml/rng';
import { generate } from '../ml/sampling';
import { maskedTokenCrossEntropy } from '../ml/sft';
import { tf } from '../ml/tf';
import { gradientStep } from '../ml/training-loop';
import { runPythonJson } from './lib/python';
import { loadSnapshot, machineLine, mdTable, writeSection } from './lib/results';
import { summarize, type Summary } from './lib/stats';
import { makeUpdateBatch, ppoUpdater, type WorkloadSpec } from './lib/workload';

/** GPT-2 small (Radford et al. 2019; HF `gpt2` config.json) with LoRA r=8 (DEFAULT_HF_LORA). */
const GPT2_SMALL: ModelConfig = { vocabSize: 50257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768, dropout: 0, lora: { rank: 8, alpha: 16, dropout: 0 } };
const FORWARD = { batch: 2, seqLen: 64 };
const TRAIN = { batch: 1, seqLen: 64 };
const GENERATE = { batch: 4, promptLen: 32, newTokens: 32 };
/** The `quick` preset's PPO batch shape; prompts as long as the responses. */
const PPO_PROMPT = 16;
/** The seed's figures for GPT-2 small on CPU (issue 10): 1,000 PPO steps in 2 h, ~2 GB. */
const SEED_HOURS_PER_1000 = 2;
const SEED_RSS_GB = 2;
const PYTORCH_THREADS = 2;

interface WorkloadTimes {
  forward: number[];
  train: number[];
  generate: number[];
}
interface ChildResult extends WorkloadTimes {
  backend: string;
  status: string;
}
interface PpoResult {
  backend: string;
  rollout: number[];
  scoring: number[];
  update: number[];
  total: number[];
  peakRssMiB: number;
}

const randomIds = (rng: Rng, rows: number, len: number): number[][] =>
  Array.from({ length: rows }, () => Array.from({ length: len }, () => rng.int(GPT2_SMALL.vocabSize - 1)));

/** Seconds of `runs` calls after one warm-up call. */
function timed(runs: number, fn: () => void): number[] {
  fn();
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    xs.push((performance.now() - t0) / 1000);
  }
  return xs;
}

/** The three workloads on this process's backend. */
function workloads(runs: number): WorkloadTimes {
  const rng = new Rng(7);
  const model = GptModel.create(GPT2_SMALL, rng);
  const fwdIds = tf.tensor2d(randomIds(rng, FORWARD.batch, FORWARD.seqLen), undefined, 'int32'); // [B, T]
  const fwdMask = tf.ones([FORWARD.batch, FORWARD.seqLen]) as tf.Tensor2D; // [B, T]
  const forward = timed(runs, () => {
    const out = model.forward(fwdIds, fwdMask);
    out.logits.dataSync(); // [B, T, V]: waits for the work, as PyTorch's eager call does
    tf.dispose([out.logits, out.values, out.hidden]);
  });

  const vars = model.trainableVariables('lora');
  const optimizer = new AdamW(vars, { learningRate: 1e-4, warmupSteps: 0, decay: 'none', maxGradNorm: 1, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  const [b, t] = [TRAIN.batch, TRAIN.seqLen];
  const trIds = tf.tensor2d(randomIds(rng, b, t), undefined, 'int32'); // [B, T]
  const trMask = tf.ones([b, t]) as tf.Tensor2D; // [B, T]
  const lossFn = (): tf.Scalar =>
    tf.tidy(() => {
      const { logits } = model.forward(trIds, trMask, { trainable: vars }); // [B, T, V]
      const v = logits.shape[2];
      const predicting = tf.slice(logits, [0, 0, 0], [b, t - 1, v]) as tf.Tensor3D; // [B, T-1, V]
      const labels = tf.slice(trIds, [0, 1], [b, t - 1]) as tf.Tensor2D; // [B, T-1]
      return maskedTokenCrossEntropy(predicting, labels, tf.ones([b, t - 1]) as tf.Tensor2D);
    });
  const train = timed(runs, () => {
    gradientStep({ vars, optimizer, lossFn, maxGradNorm: 1, learningRate: 1e-4 });
  });
  optimizer.dispose();

  const prompts = randomIds(rng, GENERATE.batch, GENERATE.promptLen);
  // EOS out of reach, so every row generates all new tokens, as the PyTorch side does.
  const genOpts = { maxNewTokens: GENERATE.newTokens, temperature: 1, topK: 0, topP: 1, eosId: -1, padId: 0 };
  const gen = timed(runs, () => {
    generate(model, prompts, genOpts, new Rng(3));
  });
  tf.dispose([fwdIds, fwdMask, trIds, trMask]);
  model.dispose();
  return { forward, train, generate: gen };
}

/** One PPO update of GPT-2 small with the `quick` preset's batch shape: rollout, scoring, epochs. */
async function ppoUpdate(runs: number): Promise<Omit<PpoResult, 'backend'>> {
  const quick = resolveRunConfig('quick', { seed: 5 });
  const n = quick.ppo.generation.maxNewTokens;
  const spec: WorkloadSpec = { seed: 5, model: GPT2_SMALL, ppo: quick.ppo, workload: { promptLength: PPO_PROMPT, newTokens: n, sftBatchSize: 1, sftStepsPerRun: 1 } };
  const rng = new Rng(5);
  const policy = GptModel.create(GPT2_SMALL, rng);
  const updater = ppoUpdater(policy, spec, rng);
  const prompts = randomIds(rng, quick.ppo.batchSize, PPO_PROMPT);
  const genOpts = { ...quick.ppo.generation, eosId: -1, padId: 0 };
  const rollout: number[] = [];
  const scoring: number[] = [];
  const update: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now();
    generate(policy, prompts, genOpts, rng);
    const t1 = performance.now();
    // makeUpdateBatch runs the no-grad policy and reference passes (ppo-forward rolloutForward) and GAE.
    const batch = makeUpdateBatch(policy, spec, PPO_PROMPT, PPO_PROMPT + n, rng);
    const t2 = performance.now();
    const u = await updater.update(batch);
    tf.dispose(Object.values(batch));
    if (i === 0) continue; // warm-up
    rollout.push((t1 - t0) / 1000);
    scoring.push((t2 - t1) / 1000);
    update.push(u);
  }
  updater.dispose();
  policy.dispose();
  const total = rollout.map((r, i) => r + scoring[i] + update[i]);
  return { rollout, scoring, update, total, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
}

/** Runs this script as a child on one backend; resolves with its last stdout line as JSON. */
function child<T>(mode: 'workloads' | 'ppo', backend: string, runs: number): Promise<T> {
  const env = { ...process.env, RLHF_BACKEND: backend, ...(backend === 'wasm' ? { RLHF_NATIVE: '0' } : {}) };
  const tsx = path.join(__dirname, '..', 'node_modules', 'tsx', 'dist', 'cli.mjs');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [tsx, __filename, '--child', mode, '--runs', String(runs)], { env, maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${mode} on ${backend} failed: ${err.message}\n${stderr.slice(-2000)}`));
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${mode} on ${backend} printed no JSON: ${stdout.slice(-500)}`));
      }
    });
  });
}

const med = (xs: number[]): Summary => summarize(xs);
const fmt = (xs: number[]): string => {
  const s = med(xs);
  return `${s.median.toFixed(3)} (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      backends: { type: 'string', default: 'tensorflow,wasm,pytorch' },
      ppo: { type: 'boolean', default: false },
      'ppo-runs': { type: 'string', default: '2' },
      'wasm-runs': { type: 'string', default: '3' },
      'no-write': { type: 'boolean', default: false },
      /** Also write the section to this file (bench/device-check.sh collects it from the GPU machine). */
      'section-out': { type: 'string' },
      child: { type: 'string' },
    },
  });
  const runs = Number(values.runs);
  if (values.child !== undefined) {
    const info = await initBackend({ log: () => undefined });
    const out = values.child === 'ppo' ? { backend: info.name, ...(await ppoUpdate(runs)) } : { backend: info.name, status: '', ...workloads(runs) };
    console.log(JSON.stringify(out));
    return;
  }

  const start = loadSnapshot();
  const backends = values.backends!.split(',').filter(Boolean);
  const results: ChildResult[] = [];
  let backendLine = '';
  for (const b of backends.filter((x) => x !== 'pytorch')) {
    const r = await child<ChildResult>('workloads', b, b === 'wasm' ? Number(values['wasm-runs']) : runs);
    if (r.backend !== b) throw new Error(`asked for ${b}, the child ran on ${r.backend}`);
    console.log(`${b}: forward ${fmt(r.forward)} s, train ${fmt(r.train)} s, generate ${fmt(r.generate)} s`);
    results.push(r);
  }
  const native = backends.find((x) => x === 'tensorflow' || x === 'tensorflow-gpu');
  if (native !== undefined) {
    const info = await initBackend({ prefer: native, log: () => undefined });
    backendLine = `${native}: TensorFlow ${info.tensorflowVersion ?? '?'} through ${info.package} 4.22.0, ${info.intraOpThreads} intra-op / ${info.interOpThreads} inter-op threads`;
  }
  let torch: { torch: string; threads: number } & WorkloadTimes | null = null;
  if (backends.includes('pytorch')) {
    const spec = { seed: 7, threads: PYTORCH_THREADS, model: GPT2_SMALL, lora: GPT2_SMALL.lora, forward: { ...FORWARD, runs }, train: { ...TRAIN, runs }, generate: { ...GENERATE, runs } };
    torch = await runPythonJson('gpt2_small.py', [JSON.stringify(spec)]);
    console.log(`pytorch: forward ${fmt(torch!.forward)} s, train ${fmt(torch!.train)} s, generate ${fmt(torch!.generate)} s`);
  }
  const ppo: PpoResult[] = [];
  if (values.ppo) {
    for (const b of backends.filter((x) => x === native)) {
      const r = await child<PpoResult>('ppo', b, Number(values['ppo-runs']));
      console.log(`ppo update on ${b}: ${fmt(r.total)} s (rollout ${fmt(r.rollout)}, scoring ${fmt(r.scoring)}, epochs ${fmt(r.update)}), peak RSS ${r.peakRssMiB.toFixed(0)} MiB`);
      ppo.push(r);
    }
  }

  const workloadRows: [keyof WorkloadTimes, string][] = [
    ['forward', `forward, B=${FORWARD.batch}, T=${FORWARD.seqLen}, all logits`],
    ['train', `LoRA training step, B=${TRAIN.batch}, T=${TRAIN.seqLen}`],
    ['generate', `KV-cache generation, ${GENERATE.batch} × ${GENERATE.newTokens} new after ${GENERATE.promptLen}`],
  ];
  const header = ['workload', ...(torch ? [`PyTorch ${torch.torch}, ${torch.threads} threads (s)`] : []), ...results.flatMap((r) => [`${r.backend} (s)`, ...(torch ? [`${r.backend} / PyTorch speed`] : [])])];
  const rows = workloadRows.map(([key, label]) => [
    label,
    ...(torch ? [fmt(torch[key])] : []),
    ...results.flatMap((r) => [fmt(r[key]), ...(torch ? [(med(torch[key]).median / med(r[key]).median).toFixed(2)] : [])]),
  ]);
  const lines = [
    '## GPT-2 small\'s shape: native TensorFlow, WASM and PyTorch (issue 10)',
    '',
    machineLine(`${backendLine}; WASM single-threaded`, start),
    '',
    `Command: \`npx tsx bench/gpt2-small.ts --runs ${runs} --backends ${values.backends}${values.ppo ? ' --ppo' : ''}\`. ` +
      `Model: GPT-2 small's shape (12 layers, d=768, 12 heads, vocabulary 50257; 124M), random weights, LoRA r=8 (alpha 16). ` +
      `Seconds: median (min–max) of ${runs} runs after one warm-up (WASM: ${values['wasm-runs']} runs); each backend in its own process, one after the other; ` +
      'speed ratio = PyTorch seconds / ours (≥ 1: as fast as PyTorch). The machine is shared: the load above is the 1-minute average when the run started, and only the ratios within this run compare.',
    '',
    mdTable(header, rows),
  ];
  if (ppo.length > 0) {
    const p = ppo[0];
    const total = med(p.total).median;
    lines.push(
      '',
      `**One PPO update of GPT-2 small's shape** with the \`quick\` preset's batch shape (batch 16, minibatch 8, 4 epochs; ${PPO_PROMPT}-token prompts, 16 new tokens), on ${p.backend}, ` +
        `median (min–max) of ${p.total.length} updates after one warm-up; the reward model's scoring is not included (in a run it is a separate, smaller model):`,
      '',
      mdTable(
        ['phase', 'seconds'],
        [
          ['rollout (KV-cache sampling, 16 × 16 tokens)', fmt(p.rollout)],
          ['scoring (policy + reference forward, GAE)', fmt(p.scoring)],
          ['PPO epochs (4 × 2 minibatches, fwd + bwd + AdamW)', fmt(p.update)],
          ['**one update**', `**${fmt(p.total)}**`],
        ],
      ),
      '',
      `1,000 updates: ${((1000 * total) / 3600).toFixed(2)} h against the seed's ${SEED_HOURS_PER_1000} h on CPU (×${(SEED_HOURS_PER_1000 * 3600 / (1000 * total)).toFixed(2)}). ` +
        `Peak RSS of the process: ${(p.peakRssMiB / 1024).toFixed(2)} GiB against the seed's ~${SEED_RSS_GB} GB.`,
    );
  }
  const body = lines.join('\n');
  console.log(body);
  if (!values['no-write']) await writeSection('gpt2-small', body);
  if (values['section-out'] !== undefined) await fs.writeFile(values['section-out'], `${body}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
