/**
 * Benchmark 4, TRL column: TRL's own PPO trainer (trl 0.7.11, bench/reference/trl_ppo.py) on a
 * randomly initialised GPT-2 of the same size as ml/'s bench policy, beside ml/ measured in the
 * same invocation. Writes the `trl` section of bench/RESULTS.md (right after section 4).
 *
 * What is compared, on both sides from the same bench/lib/workload.ts spec:
 *   - rollout: sampling `newTokens` tokens for `batchSize` prompts with a KV cache, adapters on,
 *     no EOS stop (ours: rolloutSeconds; TRL: PPOTrainer.generate);
 *   - PPO step on a scored batch: no-grad policy + reference forward, KL-penalised rewards, GAE,
 *     whitening, then `ppoEpochs` of minibatch updates (ours: makeUpdateBatch + runPpoEpochs;
 *     TRL: PPOTrainer.step, which also gathers its statistics);
 *   - of which the epochs alone (ours: runPpoEpochs, section 4's "PPO update"; TRL: its
 *     time/ppo/optimize_step).
 * The hand-written PyTorch reference of section 4 (bench/reference/bench.py, 1 thread) runs in the
 * same invocation too, on the same torch, so TRL's own overhead over the same maths is measured.
 * Python: $TRL_PYTHON, else .cache/trl-venv (bash bench/reference/setup-trl-venv.sh creates it).
 *   npx tsx bench/trl-compare.ts [--preset small] [--runs 5] [--threads 1,default] [--no-write]
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, type BackendInfo } from '../ml/backend';
import type { PresetName } from '../ml/config';
import { GptModel } from '../ml/model';
import { Rng } from '../ml/rng';
import type { UpdateBatch } from '../ml/ppo-update';
import { tf } from '../ml/tf';
import { runPythonJson } from './lib/python';
import { machineLine, mdTable, writeSection } from './lib/results';
import { summarize, timeWallAndCpu, type Summary } from './lib/stats';
import { makeUpdateBatch, ppoUpdater, presetSpec, rolloutSeconds, type WorkloadSpec } from './lib/workload';

const SEED = 4343;
const ROOT = path.join(__dirname, '..');
const DEFAULT_TRL_PYTHON = path.join(ROOT, '.cache', 'trl-venv', 'bin', 'python');
/** Sent to trl_ppo.py for "torch's default thread count" (one per core). */
const TORCH_DEFAULT_THREADS = 0;

type Figure = 'rollout' | 'step' | 'epochs';
const FIGURES: Record<Figure, string> = {
  rollout: 'rollout (sampling, KV cache)',
  step: 'PPO step (forward + advantages + epochs)',
  epochs: 'of which the PPO epochs',
};
const TRL_PHASES = ['forward_pass', 'compute_rewards', 'compute_advantages', 'optimize_step', 'calc_stats', 'total'] as const;

/** Wall-clock and process-CPU seconds of each measured run. */
interface Seconds {
  wall: number[];
  cpu: number[];
}

interface TrlByThreads {
  threads: number;
  trainableParams: number;
  rolloutSeconds: Seconds;
  stepSeconds: Seconds;
  /** TRL's own time/ppo/* (wall-clock) of each measured step. */
  phaseSeconds: Record<(typeof TRL_PHASES)[number], number[]>;
}

interface TrlResult {
  versions: Record<'trl' | 'transformers' | 'peft' | 'torch' | 'numpy', string>;
  vocabSize: number;
  defaultThreads: number;
  byThreads: Record<string, TrlByThreads>;
}

/** The part of bench/reference/bench.py's throughput answer read here (the hand-written PyTorch reference). */
interface ReferenceThroughput {
  torch: string;
  byThreads: Record<string, { rolloutTokensPerSec: number[]; ppoUpdateTokensPerSec: number[] }>;
}

interface OursResult {
  seconds: Record<Figure, Seconds>;
  trainableParams: number;
}

interface Measured {
  ours: OursResult;
  trl: TrlResult;
  reference: ReferenceThroughput;
}

/** The Python of the TRL venv; throws naming the setup script when it is missing. */
function trlPython(): string {
  const python = process.env.TRL_PYTHON ?? DEFAULT_TRL_PYTHON;
  if (!existsSync(python)) {
    throw new Error(`no TRL Python at ${python}: run bash bench/reference/setup-trl-venv.sh (or set TRL_PYTHON)`);
  }
  return python;
}

/** Tokens one run of `f` processes: bench/throughput.ts's definitions, for both sides. */
function tokensOf(spec: WorkloadSpec, f: Figure): number {
  const { ppo, workload } = spec;
  return f === 'rollout' ? ppo.batchSize * workload.newTokens : ppo.ppoEpochs * ppo.batchSize * (workload.promptLength + workload.newTokens);
}

/** One PPO step on ml/ from a scored batch, split as TRL's step() is timed. */
async function oursStep(
  policy: GptModel,
  spec: WorkloadSpec,
  updater: ReturnType<typeof ppoUpdater>,
  rng: Rng,
): Promise<{ step: { wall: number; cpu: number }; epochs: { wall: number; cpu: number } }> {
  const t = spec.workload.promptLength + spec.workload.newTokens;
  let batch: UpdateBatch | undefined;
  try {
    // makeUpdateBatch: phases 3-5 (policy + reference forward, KL-penalised rewards, GAE, whitening).
    const prepare = await timeWallAndCpu(() => {
      batch = makeUpdateBatch(policy, spec, spec.workload.promptLength, t, rng);
    });
    const epochs = await timeWallAndCpu(() => updater.update(batch as UpdateBatch));
    return { step: { wall: prepare.wall + epochs.wall, cpu: prepare.cpu + epochs.cpu }, epochs };
  } finally {
    if (batch) tf.dispose(Object.values(batch));
  }
}

const collect = (xs: { wall: number; cpu: number }[]): Seconds => ({ wall: xs.map((x) => x.wall), cpu: xs.map((x) => x.cpu) });

/** Rollout, PPO step and PPO epochs on ml/, `runs` samples each after one warm-up. */
async function measureOurs(spec: WorkloadSpec, runs: number): Promise<OursResult> {
  const rng = new Rng(SEED);
  const policy = GptModel.create(spec.model, rng);
  const updater = ppoUpdater(policy, spec, rng);
  try {
    const rollouts: { wall: number; cpu: number }[] = [];
    const steps: Awaited<ReturnType<typeof oursStep>>[] = [];
    for (let i = 0; i <= runs; i++) {
      const r = await timeWallAndCpu(() => rolloutSeconds(policy, spec, rng));
      if (i > 0) rollouts.push(r); // run 0 is the warm-up
    }
    for (let i = 0; i <= runs; i++) {
      const s = await oursStep(policy, spec, updater, rng);
      if (i > 0) steps.push(s);
    }
    return {
      seconds: { rollout: collect(rollouts), step: collect(steps.map((s) => s.step)), epochs: collect(steps.map((s) => s.epochs)) },
      trainableParams: policy.trainableVariables('lora').reduce((n, v) => n + v.size, 0),
    };
  } finally {
    updater.dispose();
    policy.dispose();
  }
}

const perSecond = (tokens: number, seconds: readonly number[]) => summarize(seconds.map((s) => tokens / s));
const fmt = (s: Summary) => `${s.median.toFixed(0)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;
const threadsLabel = (n: number) => `${n} thread${n === 1 ? '' : 's'}`;

/** TRL's seconds of `f` (the epochs: its own time/ppo/optimize_step, wall-clock only). */
function trlSeconds(r: TrlByThreads, f: Figure): Seconds | { wall: number[]; cpu: null } {
  if (f === 'epochs') return { wall: r.phaseSeconds.optimize_step, cpu: null };
  return f === 'rollout' ? r.rolloutSeconds : r.stepSeconds;
}

function phaseLine(r: TrlByThreads): string {
  const parts = TRL_PHASES.map((ph) => `${ph} ${summarize(r.phaseSeconds[ph]).median.toFixed(3)} s`);
  return `TRL's own phase timings at ${threadsLabel(r.threads)} (time/ppo/*, wall-clock medians): ${parts.join(', ')}.`;
}

/** The comparison table: wall-clock tok/s per side, ratio ours / TRL, and the 1-thread ratio by CPU time. */
function comparisonTable(spec: WorkloadSpec, { ours, trl }: Measured): string {
  const columns = Object.values(trl.byThreads);
  const rows = (Object.keys(FIGURES) as Figure[]).map((f) => {
    const n = tokensOf(spec, f);
    const oursWall = perSecond(n, ours.seconds[f].wall);
    const cells = columns.flatMap((c) => {
      const s = trlSeconds(c, f);
      const wall = perSecond(n, s.wall);
      const cells = [fmt(wall), (oursWall.median / wall.median).toFixed(3)];
      if (c.threads !== 1) return cells;
      const byCpu = s.cpu ? (perSecond(n, ours.seconds[f].cpu).median / perSecond(n, s.cpu).median).toFixed(3) : 'n/a';
      return [...cells, byCpu];
    });
    return [FIGURES[f], fmt(oursWall), ...cells];
  });
  const header = columns.flatMap((c) => [`TRL ${threadsLabel(c.threads)} tok/s`, 'ratio', ...(c.threads === 1 ? ['ratio by CPU time'] : [])]);
  return mdTable(['workload', 'ours tok/s', ...header], rows);
}

/** TRL and ours against the hand-written PyTorch reference on the same torch, 1 thread, same run. */
function referenceLine(spec: WorkloadSpec, { ours, trl, reference }: Measured): string {
  const ref = reference.byThreads['1'];
  const trl1 = trl.byThreads['1'];
  if (!ref || !trl1) return '';
  const refOf = { rollout: summarize(ref.rolloutTokensPerSec), epochs: summarize(ref.ppoUpdateTokensPerSec) };
  const share = (f: 'rollout' | 'epochs') => {
    const n = tokensOf(spec, f);
    const trlShare = perSecond(n, trlSeconds(trl1, f).wall).median / refOf[f].median;
    return `TRL ×${trlShare.toFixed(2)}, ours ×${(perSecond(n, ours.seconds[f].wall).median / refOf[f].median).toFixed(2)}`;
  };
  return (
    'The hand-written PyTorch reference of section 4 (bench/reference/bench.py: the same maths without Hugging Face, peft or ' +
    `accelerate), run last in this invocation on the same torch at 1 thread: rollout ${fmt(refOf.rollout)} tok/s, PPO epochs ` +
    `${fmt(refOf.epochs)} tok/s (wall-clock). Against it: rollout ${share('rollout')}; PPO epochs ${share('epochs')}.`
  );
}

/** Why a multi-threaded TRL column can be slower than the 1-thread one here. */
function threadsNote(spec: WorkloadSpec, columns: TrlByThreads[]): string {
  const stepRate = (c: TrlByThreads) => perSecond(tokensOf(spec, 'step'), c.stepSeconds.wall).median;
  const one = columns.find((c) => c.threads === 1);
  const slower = one ? columns.filter((c) => c.threads > 1 && stepRate(c) < stepRate(one)) : [];
  const like = 'The 1-thread TRL column is the like-for-like one: WASM in Node is single-threaded here.';
  if (!one || slower.length === 0) return like;
  return (
    `TRL with ${slower.map((c) => threadsLabel(c.threads)).join(', ')} ran slower than with 1 (PPO step ×` +
    `${slower.map((c) => (stepRate(c) / stepRate(one)).toFixed(2)).join(', ')}): the cores are shared, and when other processes hold ` +
    `them torch's OpenMP threads wait on each other (section 4 saw the same with the reference). ${like}`
  );
}

function report(spec: WorkloadSpec, backend: BackendInfo, measured: Measured, preset: string, runs: number, threadsArg: string): string {
  const { ours, trl } = measured;
  const columns = Object.values(trl.byThreads);
  const first = columns[0];
  const m = spec.model;
  const p = spec.ppo;
  const t = spec.workload.promptLength + spec.workload.newTokens;
  const v = trl.versions;
  const ratio = (f: Figure, clock: 'wall' | 'cpu') => {
    const s = trlSeconds(first, f)[clock];
    return s ? (perSecond(tokensOf(spec, f), ours.seconds[f][clock]).median / perSecond(tokensOf(spec, f), s).median).toFixed(2) : 'n/a';
  };
  return [
    "## 4b. TRL's own PPO trainer beside ours",
    '',
    "This section supersedes section 4's note that TRL's PPO trainer was not run.",
    '',
    machineLine(
      `ours: tfjs ${tf.version_core} on ${backend.name} (single-threaded); TRL ${v.trl} (transformers ${v.transformers}, peft ${v.peft}, ` +
        `torch ${v.torch} on the CPU, numpy ${v.numpy})`,
    ),
    '',
    `Command: \`bash bench/reference/setup-trl-venv.sh && npx tsx bench/trl-compare.ts --preset ${preset} --runs ${runs} --threads ${threadsArg}\` ` +
      "(the setup script creates `.cache/trl-venv` from `bench/reference/requirements-trl.txt`, reusing `.cache/hf-venv`'s torch). " +
      'One invocation runs ours, then TRL (bench/reference/trl_ppo.py), then the hand-written reference.',
    '',
    `Same model and update on both sides (\`${preset}\`): ${m.nLayer} layers, ${m.nHead} heads, width ${m.nEmbd}, context ${m.blockSize}, ` +
      `vocabulary ${trl.vocabSize} on TRL's side (transformers' ByT5 byte tokenizer without extra ids: pad, eos, unk + 256 bytes) and ` +
      `${m.vocabSize} on ours (256 bytes + BOS, EOS, PAD); a randomly initialised \`GPT2Config\` without dropout, LM head tied; ` +
      `LoRA r=${m.lora.rank}, alpha ${m.lora.alpha} on c_attn, attn.c_proj, c_fc, mlp.c_proj (peft on TRL's side, whose reference ` +
      'policy is then the same model with adapters off, as ours) plus the value head: ' +
      `${first.trainableParams} trained parameters in TRL, ${ours.trainableParams} in ours. PPO batch ${p.batchSize}, minibatch ` +
      `${p.miniBatchSize}, ${p.ppoEpochs} epochs, k1 KL with adaptive β from ${p.initKlCoef}, γ ${p.gamma}, λ ${p.lam}, clip ` +
      `${p.cliprange}/${p.cliprangeValue}, vf ${p.vfCoef}, AdamW lr ${p.optim.learningRate} (weight decay ${p.optim.weightDecay}), ` +
      `grad-norm clip ${p.optim.maxGradNorm}; sequences ${spec.workload.promptLength} prompt + ${spec.workload.newTokens} response = ` +
      `${t} tokens of random bytes; one fixed synthetic score per row (no reward model).`,
    '',
    comparisonTable(spec, measured),
    '',
    'Tokens/s (wall-clock), median (min–max) of the runs after one warm-up; ratio = ours / TRL (> 1: we are ahead). "Ratio by CPU ' +
      "time\" uses each process's CPU seconds instead (Node's process.cpuUsage, Python's time.process_time), which other processes on " +
      'the shared cores disturb far less than wall time; TRL reports its epochs in wall time only. Definitions (bench/throughput.ts\'s): ' +
      'rollout = batch × new tokens / sampling time (TRL: `PPOTrainer.generate` of the whole batch at once, temperature 1, no ' +
      'top-k/top-p, no EOS stop; ours: bench/lib/workload.ts `rolloutSeconds`); PPO step = epochs × batch × T / time of one step on a ' +
      'scored batch (TRL: `PPOTrainer.step`, including its statistics; ours: `makeUpdateBatch` + `runPpoEpochs`: policy + reference ' +
      'forward, KL-penalised rewards, GAE, whitening, minibatch epochs); PPO epochs = the same numerator over the epochs alone (TRL: ' +
      '`time/ppo/optimize_step`; ours: `runPpoEpochs`, section 4\'s "PPO update").',
    '',
    ...columns.map(phaseLine),
    '',
    `Where we stand: against TRL at ${threadsLabel(first.threads)}, wall-clock: rollout ×${ratio('rollout', 'wall')}, PPO step ` +
      `×${ratio('step', 'wall')}, PPO epochs ×${ratio('epochs', 'wall')}; by CPU time: rollout ×${ratio('rollout', 'cpu')}, PPO step ` +
      `×${ratio('step', 'cpu')}.`,
    '',
    referenceLine(spec, measured),
    '',
    threadsNote(spec, columns),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      preset: { type: 'string', default: 'small' },
      runs: { type: 'string', default: '5' },
      threads: { type: 'string', default: '1,default' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const preset = values.preset as PresetName;
  const runs = Number(values.runs);
  const threads = values.threads.split(',').map((s) => (s === 'default' ? TORCH_DEFAULT_THREADS : Number(s)));
  // runPythonJson's interpreter is $BENCH_PYTHON; for this bench it is the TRL venv's.
  process.env.BENCH_PYTHON = trlPython();
  const backend = await initBackend({ log: () => undefined });
  const spec = presetSpec(preset, SEED);
  console.log(`trl-compare: ${preset}, ${runs} runs, backend ${backend.name}`);
  const ours = await measureOurs(spec, runs);
  console.log('ours', JSON.stringify(ours));
  const trl = await runPythonJson<TrlResult>('trl_ppo.py', [JSON.stringify({ ...spec, runs, threads })], 'trl');
  console.log('trl', JSON.stringify(trl));
  // The hand-written reference on the TRL venv's torch (the same torch as hf-venv's): same run, 1 thread.
  const reference = await runPythonJson<ReferenceThroughput>('bench.py', [JSON.stringify({ mode: 'throughput', runs, threads: [1], ...spec })]);
  console.log('reference', JSON.stringify(reference));
  const md = report(spec, backend, { ours, trl, reference }, preset, runs, values.threads);
  console.log(md);
  if (!values['no-write']) await writeSection('trl', md);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
