/**
 * Benchmark 4: training throughput of ml/ (TensorFlow.js) against the PyTorch reference in
 * bench/reference/, on the same config, batch, sequence length, trained variables and optimizer
 * (bench/lib/workload.ts). Tokens/s of rollout (KV-cache sampling), SFT and the PPO update;
 * ratio = ours / PyTorch, per figure the median of --runs runs after one warm-up.
 * Also: the PPO update's speed-up from frozen base weights skipping their gradients (the hot
 * spot profiled with bench/profile-ppo.ts), as --pairs interleaved pairs against every weight
 * differentiated, the path before it; the parity check (test/bench/parity.test.ts: same GAE and
 * losses to 1e-5) and where TRL's own PPO trainer is compared (bench/trl-compare.ts, section 4b).
 *   npx tsx bench/throughput.ts [--preset small] [--runs 5] [--pairs 9] [--threads 1,2] [--no-write]
 */
import { parseArgs } from 'node:util';
import { initBackend, type BackendInfo } from '../ml/backend';
import type { PresetName } from '../spec/run-config';
import { GptModel } from '../ml/model';
import { Rng } from '../ml/rng';
import { tf } from '../ml/tf';
import { runPythonJson } from './lib/python';
import { loadSnapshot, machineLine, mdTable, writeSection, type LoadSnapshot } from './lib/results';
import { pairedRatios, repeat, summarize, timeWallAndCpu, type Summary } from './lib/stats';
import { everyWeightDifferentiated, makeUpdateBatch, ppoUpdater, presetSpec, rolloutSeconds, sftStepper, type WorkloadSpec } from './lib/workload';

const SEED = 4242;
type Figure = 'rollout' | 'sft' | 'ppoUpdate';
const FIGURES: Record<Figure, string> = { rollout: 'rollout (sampling, KV cache)', sft: 'SFT step', ppoUpdate: 'PPO update' };

interface TorchThroughput {
  torch: string;
  byThreads: Record<string, { rolloutTokensPerSec: number[]; sftTokensPerSec: number[]; ppoUpdateTokensPerSec: number[] }>;
}

/** One path's PPO update tokens/s per run, by wall clock and by this process's CPU time (user + system). */
interface PathRates {
  wall: number[];
  cpu: number[];
}

/**
 * PPO update rates with every weight differentiated (before) and with frozen weights skipped
 * (after), run interleaved: index i of each list belongs to pair i.
 */
interface FrozenPairs {
  before: PathRates;
  after: PathRates;
}

/** Per-pair speed-ups after / before of one clock. */
function speedups(frozen: FrozenPairs, clock: keyof PathRates): number[] {
  return frozen.after[clock].map((a, i) => a / frozen.before[clock][i]);
}

/**
 * Tokens/s of the three workloads on ml/, `runs` samples each, and `pairs` interleaved PPO
 * updates of the path before the frozen-weight fix against the current one (same policy, batch
 * and process; both train the same weights bit for bit, test/ml/ppo-update.test.ts).
 */
async function measureOurs(spec: WorkloadSpec, runs: number, pairs: number): Promise<{ figures: Record<Figure, number[]>; frozen: FrozenPairs }> {
  const rng = new Rng(SEED);
  const { ppo, workload } = spec;
  const t = workload.promptLength + workload.newTokens;
  const policy = GptModel.create(spec.model, rng);
  try {
    const rollout = await repeat(runs, async () => (ppo.batchSize * workload.newTokens) / (await rolloutSeconds(policy, spec, rng)));
    const batch = makeUpdateBatch(policy, spec, workload.promptLength, t, rng);
    const updater = ppoUpdater(policy, spec, rng);
    const baseline = ppoUpdater(everyWeightDifferentiated(policy), spec, rng);
    const tokensPerUpdate = ppo.ppoEpochs * ppo.batchSize * t;
    const frozen: FrozenPairs = { before: { wall: [], cpu: [] }, after: { wall: [], cpu: [] } };
    // CPU time too: the update is single-threaded, so other processes' load stretches its wall time but hardly its CPU time.
    const timedRate = (u: typeof updater, into: PathRates) => async (): Promise<number> => {
      const { wall, cpu } = await timeWallAndCpu(() => u.update(batch));
      into.wall.push(tokensPerUpdate / wall);
      into.cpu.push(tokensPerUpdate / cpu);
      return tokensPerUpdate / wall;
    };
    let update: number[];
    try {
      update = await repeat(runs, async () => tokensPerUpdate / (await updater.update(batch)));
      await baseline.update(batch); // its warm-up; the current path is warm from the runs above
      await pairedRatios(pairs, timedRate(baseline, frozen.before), timedRate(updater, frozen.after));
    } finally {
      updater.dispose();
      baseline.dispose();
      tf.dispose(Object.values(batch));
    }
    const sft = sftStepper(spec, rng);
    try {
      const perRun = workload.sftStepsPerRun * workload.sftBatchSize * t;
      return { figures: { rollout, ppoUpdate: update, sft: await repeat(runs, async () => perRun / (await sft.run())) }, frozen };
    } finally {
      sft.dispose();
    }
  } finally {
    policy.dispose();
  }
}

interface ReportArgs {
  spec: WorkloadSpec;
  backend: BackendInfo;
  ours: Record<Figure, Summary>;
  frozen: FrozenPairs;
  torch: TorchThroughput;
  preset: string;
  runs: number;
  start: LoadSnapshot;
}

/** `6538 (5714–7583)`: a tokens/s median with its range. */
const fmtTokens = (s: Summary): string => `${s.median.toFixed(0)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;

/**
 * The frozen-weight paragraph: before/after tok/s and the median per-pair speed-ups. CPU time
 * leads: the update is single-threaded, so other processes on the shared cores stretch its wall
 * time (pairs whose wall ratio is below 1 happen) far more than its CPU time.
 */
function frozenParagraph(frozen: FrozenPairs): string {
  const wall = summarize(speedups(frozen, 'wall'));
  const cpu = summarize(speedups(frozen, 'cpu'));
  const range = (s: Summary) => `${s.min.toFixed(2)}–${s.max.toFixed(2)}`;
  return (
    '**Frozen base weights skip their weight gradients** (the hot spot found with `bench/profile-ppo.ts`; ml/layers.ts `frozen`, ' +
    'ml/model.ts `trainable`). The PPO update as before that change, with every weight differentiated (each frozen base matmul ' +
    "forming dW = xᵀ·dy, the tied LM head wte's [V, C] gradient), against the update as trained now, in " +
    `${frozen.before.cpu.length} interleaved pairs in this process: by CPU time ${fmtTokens(summarize(frozen.before.cpu))} → ` +
    `${fmtTokens(summarize(frozen.after.cpu))} tok/s, **${cpu.median.toFixed(2)}× faster** (median of the per-pair speed-ups; ` +
    `pairwise ${range(cpu)}); by wall clock ${fmtTokens(summarize(frozen.before.wall))} → ${fmtTokens(summarize(frozen.after.wall))} ` +
    `tok/s, ${wall.median.toFixed(2)}× (pairwise ${range(wall)}), which the other processes on the shared cores disturb more. ` +
    'Both paths train bit-identical weights (test/ml/ppo-update.test.ts, CPU and WASM).'
  );
}

function report({ spec, backend, ours, frozen, torch, preset, runs, start }: ReportArgs): string {
  const threads = Object.keys(torch.byThreads);
  const torchOf = (th: string, f: Figure) => {
    const r = torch.byThreads[th];
    return summarize(f === 'rollout' ? r.rolloutTokensPerSec : f === 'sft' ? r.sftTokensPerSec : r.ppoUpdateTokensPerSec);
  };
  const rows = (Object.keys(FIGURES) as Figure[]).map((f) => [
    FIGURES[f],
    fmtTokens(ours[f]),
    ...threads.flatMap((th) => [fmtTokens(torchOf(th, f)), (ours[f].median / torchOf(th, f).median).toFixed(3)]),
  ]);
  const m = spec.model;
  const t = spec.workload.promptLength + spec.workload.newTokens;
  const ratio1 = (f: Figure) => ours[f].median / torchOf(threads[0], f).median;
  const behind = (Object.keys(FIGURES) as Figure[]).filter((f) => ratio1(f) < 1).map((f) => `${FIGURES[f]} ×${ratio1(f).toFixed(2)}`);
  return [
    '## 4. Training throughput against PyTorch',
    '',
    machineLine(`ours: tfjs ${tf.version_core} on ${backend.name} (single-threaded); PyTorch ${torch.torch} CPU`, start),
    '',
    `Command: \`npx tsx bench/throughput.ts --preset ${preset} --runs ${runs} --pairs ${frozen.before.wall.length}\`. Config \`${preset}\`: ${m.nLayer} layers, ${m.nHead} heads, width ${m.nEmbd}, ` +
      `LoRA r=${m.lora.rank}; PPO batch ${spec.ppo.batchSize}, minibatch ${spec.ppo.miniBatchSize}, ${spec.ppo.ppoEpochs} epochs; ` +
      `sequences ${spec.workload.promptLength} prompt + ${spec.workload.newTokens} generated = ${t} tokens; SFT batch ${spec.workload.sftBatchSize}. ` +
      'Tokens/s, median (min–max) of the runs after one warm-up; ratio = ours / PyTorch (> 1: we are ahead).',
    '',
    mdTable(['workload', 'ours tok/s', ...threads.flatMap((th) => [`PyTorch ${th} thread${th === '1' ? '' : 's'} tok/s`, 'ratio'])], rows),
    '',
    'Definitions (the same on both sides, bench/lib/workload.ts and bench/reference/bench.py): rollout = batch × new tokens / ' +
      'sampling time (prefill + decode with a KV cache, no early EOS stop; the trainer\'s reward scoring is not included); SFT = ' +
      'steps × batch × T / time of full-weight steps (forward, cross-entropy, backward, clip, AdamW); PPO update = epochs × batch × T / ' +
      'time of `runPpoEpochs` (LoRA + value head train, base frozen).',
    '',
    `Where we stand: ${behind.length === 0 ? 'ahead of single-threaded PyTorch on every workload.' : `behind single-threaded PyTorch on ${behind.join(', ')}.`} ` +
      'PyTorch with 2 threads is a separate column because the cores are shared: when other processes hold them, its OpenMP ' +
      'threads wait on each other and it runs slower than with 1 thread. WASM in Node is single-threaded here ' +
      '(`WASM_HAS_MULTITHREAD_SUPPORT` off), so the 1-thread column is the like-for-like comparison.',
    '',
    frozenParagraph(frozen),
    '',
    '**Same computation on both sides:** `npx jest test/bench/parity.test.ts` loads the weights written by ' +
      '`bench/reference/parity.py` into ml/ and reproduces PyTorch\'s log-probs, reference log-probs, values, KL-penalised rewards, ' +
      'GAE advantages and returns, whitened advantages, clipped policy and value losses, clip fractions, entropy and the ' +
      'gradient norm of the PPO loss to 1e-5, on the CPU and WASM backends (fixture `bench/reference/parity-fixture.json`).',
    '',
    "**TRL's own PPO trainer** (TRL 0.7.11, the line this project mirrors) runs beside ours in section 4b " +
      '(`npx tsx bench/trl-compare.ts`, after `bash bench/reference/setup-trl-venv.sh`); the hand-written PyTorch reference ' +
      "here implements TRL 0.7's PPO step so that its kernels can be compared op for op.",
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      preset: { type: 'string', default: 'small' },
      runs: { type: 'string', default: '5' },
      pairs: { type: 'string', default: '9' },
      threads: { type: 'string', default: '1,2' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const start = loadSnapshot();
  const preset = values.preset as PresetName;
  const runs = Number(values.runs);
  const backend = await initBackend({ log: () => undefined });
  const spec = presetSpec(preset, SEED);
  console.log(`throughput: ${preset}, ${runs} runs, backend ${backend.name}`);
  const measured = await measureOurs(spec, runs, Number(values.pairs));
  const { figures } = measured;
  const ours = { rollout: summarize(figures.rollout), sft: summarize(figures.sft), ppoUpdate: summarize(figures.ppoUpdate) };
  console.log('ours', JSON.stringify(ours));
  console.log('frozen-weight pairs', JSON.stringify(measured.frozen));
  const threads = values.threads.split(',').map(Number);
  const torch = await runPythonJson<TorchThroughput>('bench.py', [JSON.stringify({ mode: 'throughput', runs, threads, ...spec })]);
  console.log('torch', JSON.stringify(torch));
  const md = report({ spec, backend, ours, frozen: measured.frozen, torch, preset, runs, start });
  console.log(md);
  if (!values['no-write']) await writeSection('throughput', md);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
