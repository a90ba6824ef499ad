/**
 * Benchmark 4, TRL column: TRL's own PPO trainer (trl 0.7.11, bench/reference/trl_ppo.py) on a
 * randomly initialised GPT-2 of the same size as ml/'s bench policy, beside ml/ in the same
 * invocation. Writes the `trl` section of bench/RESULTS.md (right after section 4).
 *
 * What is compared, on both sides from the same bench/lib/workload.ts spec:
 *   - rollout: sampling `newTokens` tokens for `batchSize` prompts with a KV cache, adapters on,
 *     no EOS stop (ours: rolloutSeconds; TRL: PPOTrainer.generate);
 *   - PPO step on a scored batch: no-grad policy + reference forward, KL-penalised rewards, GAE,
 *     whitening, then `ppoEpochs` of minibatch updates (ours: makeUpdateBatch + runPpoEpochs;
 *     TRL: PPOTrainer.step, which also gathers its statistics);
 *   - of which the epochs alone (ours: runPpoEpochs, section 4's "PPO update"; TRL: its own
 *     time/ppo/optimize_step).
 * The cores are shared with other work whose load changes within seconds, so TRL runs as a
 * server (bench/trl-process.ts) and every sample is paired with one of ours, alternating which
 * goes first (bench/lib/stats.ts pairedRatios); each ratio is the median of the per-pair ratios.
 * Each call is timed in wall-clock and process-CPU seconds (CPU time is less disturbed by load).
 * The hand-written PyTorch reference of section 4 (bench/reference/bench.py, 1 thread) runs last,
 * on the same torch, so TRL's own overhead over the same maths is visible.
 * Python: $TRL_PYTHON, else .cache/trl-venv (bash bench/reference/setup-trl-venv.sh creates it).
 *   npx tsx bench/trl-compare.ts [--preset small] [--runs 5] [--threads 1,default] [--no-write]
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, type BackendInfo } from '../ml/backend';
import type { PresetName } from '../spec/run-config';
import { GptModel } from '../ml/model';
import type { UpdateBatch } from '../ml/ppo-update';
import { Rng } from '../ml/rng';
import { tf } from '../ml/tf';
import { runPythonJson } from './lib/python';
import { machineLine, mdTable, writeSection } from './lib/results';
import { pairedRatios, summarize, timeWallAndCpu, type Summary } from './lib/stats';
import { makeUpdateBatch, ppoUpdater, presetSpec, rolloutSeconds, type WorkloadSpec } from './lib/workload';
import { TRL_PHASES, TrlProcess, type TrlInfo, type TrlStepSample, type WallCpu } from './trl-process';

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

interface OursStepSample {
  step: WallCpu;
  epochs: WallCpu;
}

/** One TRL thread count: its samples and ours, index i of each list from the same pair. */
interface Column {
  info: TrlInfo;
  rollout: { trl: WallCpu[]; ours: WallCpu[] };
  step: { trl: TrlStepSample[]; ours: OursStepSample[] };
}

/** The part of bench/reference/bench.py's throughput answer read here (the hand-written PyTorch reference). */
interface ReferenceThroughput {
  torch: string;
  byThreads: Record<string, { rolloutTokensPerSec: number[]; ppoUpdateTokensPerSec: number[] }>;
}

/** The Python of the TRL venv; throws naming the setup script when it is missing. */
function trlPython(): string {
  const python = process.env.TRL_PYTHON ?? DEFAULT_TRL_PYTHON;
  if (!existsSync(python)) {
    throw new Error(`no TRL Python at ${python}: run bash bench/reference/setup-trl-venv.sh (or set TRL_PYTHON)`);
  }
  return python;
}

/** Tokens one call of `f` processes: bench/throughput.ts's definitions, for both sides. */
function tokensOf(spec: WorkloadSpec, f: Figure): number {
  const { ppo, workload } = spec;
  return f === 'rollout' ? ppo.batchSize * workload.newTokens : ppo.ppoEpochs * ppo.batchSize * (workload.promptLength + workload.newTokens);
}

/** ml/'s side: the bench policy, its PPO updater and the two timed calls. */
function oursSide(spec: WorkloadSpec) {
  const rng = new Rng(SEED);
  const policy = GptModel.create(spec.model, rng);
  const updater = ppoUpdater(policy, spec, rng);
  const t = spec.workload.promptLength + spec.workload.newTokens;
  return {
    trainableParams: policy.trainableVariables('lora').reduce((n, v) => n + v.size, 0),
    rollout: (): Promise<WallCpu> => timeWallAndCpu(() => rolloutSeconds(policy, spec, rng)),
    /** One PPO step from a scored batch, split as TRL's step() is timed. */
    step: async (): Promise<OursStepSample> => {
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
    },
    dispose: () => {
      updater.dispose();
      policy.dispose();
    },
  };
}
type OursSide = ReturnType<typeof oursSide>;

/** `runs` interleaved pairs after one warm-up of each; both sample lists in pair order. */
async function paired<A, B>(runs: number, trl: () => Promise<A>, ours: () => Promise<B>): Promise<{ trl: A[]; ours: B[] }> {
  await trl();
  await ours();
  const out = { trl: [] as A[], ours: [] as B[] };
  await pairedRatios(
    runs,
    async () => (out.trl.push(await trl()), 0),
    async () => (out.ours.push(await ours()), 0),
  );
  return out;
}

async function measureColumn(python: string, spec: WorkloadSpec, threads: number, ours: OursSide, runs: number): Promise<Column> {
  const { trl, info } = await TrlProcess.start(python, spec, threads);
  try {
    const rollout = await paired(runs, () => trl.rollout(), ours.rollout);
    const step = await paired(runs, () => trl.step(), ours.step);
    return { info, rollout, step };
  } finally {
    await trl.close();
  }
}

/** Per-pair seconds of `f` on each side (TRL's epochs: its optimize_step, wall-clock only). */
function pairSeconds(c: Column, f: Figure, clock: keyof WallCpu): { trl: number[]; ours: number[] } | null {
  if (f === 'rollout') return { trl: c.rollout.trl.map((s) => s[clock]), ours: c.rollout.ours.map((s) => s[clock]) };
  if (f === 'step') return { trl: c.step.trl.map((s) => s[clock]), ours: c.step.ours.map((s) => s.step[clock]) };
  if (clock === 'cpu') return null;
  return { trl: c.step.trl.map((s) => s.phases.optimize_step), ours: c.step.ours.map((s) => s.epochs.wall) };
}

const perSecond = (tokens: number, seconds: readonly number[]) => summarize(seconds.map((s) => tokens / s));
/** ours / TRL in tokens/s per pair = TRL seconds / our seconds. */
const pairRatios = (p: { trl: number[]; ours: number[] }) => summarize(p.trl.map((t, i) => t / p.ours[i]));
const fmtRate = (s: Summary) => `${s.median.toFixed(0)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;
const fmtRatio = (s: Summary) => `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
const threadsLabel = (n: number) => `${n} thread${n === 1 ? '' : 's'}`;

function ratioOf(c: Column, f: Figure, clock: keyof WallCpu): Summary | null {
  const p = pairSeconds(c, f, clock);
  return p ? pairRatios(p) : null;
}

/** Wall-clock tok/s per side and the paired ratios; the 1-thread column also by CPU time. */
function comparisonTable(spec: WorkloadSpec, columns: Column[]): string {
  const rows = (Object.keys(FIGURES) as Figure[]).map((f) => {
    const n = tokensOf(spec, f);
    const wall0 = pairSeconds(columns[0], f, 'wall') as { trl: number[]; ours: number[] };
    const cells = columns.flatMap((c) => {
      const wall = pairSeconds(c, f, 'wall') as { trl: number[]; ours: number[] };
      const out = [fmtRate(perSecond(n, wall.trl)), fmtRatio(pairRatios(wall))];
      if (c.info.threads !== 1) return out;
      const byCpu = ratioOf(c, f, 'cpu');
      return [...out, byCpu ? fmtRatio(byCpu) : 'n/a'];
    });
    return [FIGURES[f], fmtRate(perSecond(n, wall0.ours)), ...cells];
  });
  const header = columns.flatMap((c) => [
    `TRL ${threadsLabel(c.info.threads)} tok/s`,
    'ratio',
    ...(c.info.threads === 1 ? ['ratio by CPU time'] : []),
  ]);
  return mdTable(['workload', `ours tok/s (${threadsLabel(columns[0].info.threads)} pairs)`, ...header], rows);
}

function phaseLine(c: Column): string {
  const parts = TRL_PHASES.map((ph) => `${ph} ${summarize(c.step.trl.map((s) => s.phases[ph])).median.toFixed(3)} s`);
  return `TRL's own phase timings at ${threadsLabel(c.info.threads)} (time/ppo/*, wall-clock medians): ${parts.join(', ')}.`;
}

/** TRL and ours against the hand-written PyTorch reference on the same torch, 1 thread. */
function referenceLine(spec: WorkloadSpec, column: Column | undefined, reference: ReferenceThroughput): string {
  const ref = reference.byThreads['1'];
  if (!ref || !column) return '';
  const refOf = { rollout: summarize(ref.rolloutTokensPerSec), epochs: summarize(ref.ppoUpdateTokensPerSec) };
  const share = (f: 'rollout' | 'epochs') => {
    const p = pairSeconds(column, f, 'wall') as { trl: number[]; ours: number[] };
    const of = (s: number[]) => (perSecond(tokensOf(spec, f), s).median / refOf[f].median).toFixed(2);
    return `TRL ×${of(p.trl)}, ours ×${of(p.ours)}`;
  };
  return (
    'The hand-written PyTorch reference of section 4 (bench/reference/bench.py: the same maths without Hugging Face, peft or ' +
    `accelerate), run after the pairs on the same torch at 1 thread: rollout ${fmtRate(refOf.rollout)} tok/s, PPO epochs ` +
    `${fmtRate(refOf.epochs)} tok/s. Against its medians: rollout ${share('rollout')}; PPO epochs ${share('epochs')}. These shares are ` +
    'not paired (bench.py runs on its own, minutes later), so they move with the load; read them as indicative only.'
  );
}

/** Why a multi-threaded TRL column can be slower than the 1-thread one here. */
function threadsNote(spec: WorkloadSpec, columns: Column[]): string {
  const stepRate = (c: Column) => perSecond(tokensOf(spec, 'step'), c.step.trl.map((s) => s.wall)).median;
  const one = columns.find((c) => c.info.threads === 1);
  const slower = one ? columns.filter((c) => c.info.threads > 1 && stepRate(c) < stepRate(one)) : [];
  const like = 'The 1-thread TRL column is the like-for-like one: WASM in Node is single-threaded here.';
  if (!one || slower.length === 0) return like;
  return (
    `TRL with ${slower.map((c) => threadsLabel(c.info.threads)).join(', ')} ran slower than with 1 (PPO step ×` +
    `${slower.map((c) => (stepRate(c) / stepRate(one)).toFixed(2)).join(', ')}): the cores are shared, and when other processes hold ` +
    `them torch's OpenMP threads wait on each other (section 4 saw the same with the reference). ${like}`
  );
}

interface ReportInput {
  spec: WorkloadSpec;
  backend: BackendInfo;
  columns: Column[];
  oursTrainable: number;
  reference: ReferenceThroughput;
  preset: string;
  command: string;
}

function report({ spec, backend, columns, oursTrainable, reference, preset, command }: ReportInput): string {
  const first = columns[0];
  const m = spec.model;
  const p = spec.ppo;
  const t = spec.workload.promptLength + spec.workload.newTokens;
  const v = first.info.versions;
  const median = (f: Figure, clock: keyof WallCpu) => ratioOf(first, f, clock)?.median.toFixed(2) ?? 'n/a';
  return [
    "## 4b. TRL's own PPO trainer beside ours",
    '',
    machineLine(
      `ours: tfjs ${tf.version_core} on ${backend.name} (single-threaded); TRL ${v.trl} (transformers ${v.transformers}, peft ${v.peft}, ` +
        `torch ${v.torch} on the CPU, numpy ${v.numpy})`,
    ),
    '',
    `Command: \`bash bench/reference/setup-trl-venv.sh && ${command}\` (the setup script creates \`.cache/trl-venv\` from ` +
      "`bench/reference/requirements-trl.txt`, reusing `.cache/hf-venv`'s torch). TRL runs as a child process answering one timed call " +
      'at a time, so each of its samples is paired with one of ours, alternating which goes first; load changes on the shared cores ' +
      'then hit both sides of a pair alike.',
    '',
    `Same model and update on both sides (preset \`${preset}\`): ${m.nLayer} layers, ${m.nHead} heads, width ` +
      `${m.nEmbd}, context ${m.blockSize}, vocabulary ${first.info.vocabSize} on TRL's side (transformers' ByT5 byte tokenizer without ` +
      `extra ids: pad, eos, unk + 256 bytes) and ${m.vocabSize} on ours (256 bytes + BOS, EOS, PAD); a randomly initialised ` +
      `\`GPT2Config\` without dropout, LM head tied; LoRA r=${m.lora.rank}, alpha ${m.lora.alpha} on c_attn, attn.c_proj, c_fc, ` +
      "mlp.c_proj (peft on TRL's side, whose reference policy is then the same model with adapters off, as ours) plus the value " +
      `head: ${first.info.trainableParams} trained parameters in TRL, ${oursTrainable} in ours. PPO batch ${p.batchSize}, minibatch ` +
      `${p.miniBatchSize}, ${p.ppoEpochs} epochs, k1 KL with adaptive β from ${p.initKlCoef}, γ ${p.gamma}, λ ${p.lam}, clip ` +
      `${p.cliprange}/${p.cliprangeValue}, vf ${p.vfCoef}, AdamW lr ${p.optim.learningRate} (weight decay ${p.optim.weightDecay}), ` +
      `grad-norm clip ${p.optim.maxGradNorm}; sequences ${spec.workload.promptLength} prompt + ${spec.workload.newTokens} response = ` +
      `${t} tokens of random bytes; one fixed synthetic score per row (no reward model).`,
    '',
    comparisonTable(spec, columns),
    '',
    'Tokens/s (wall-clock), median (min–max) over the pairs after one warm-up of each side; ratio = ours / TRL per pair, median ' +
      '(min–max) (> 1: we are ahead). "Ratio by CPU time" uses each process\'s CPU seconds instead (Node\'s process.cpuUsage, ' +
      "Python's time.process_time); TRL reports its epochs in wall time only. Definitions (bench/throughput.ts's): rollout = batch × " +
      'new tokens / sampling time (TRL: `PPOTrainer.generate` of the whole batch at once, temperature 1, no top-k/top-p, no EOS stop; ' +
      'ours: bench/lib/workload.ts `rolloutSeconds`); PPO step = epochs × batch × T / time of one step on a scored batch (TRL: ' +
      '`PPOTrainer.step`, including its statistics; ours: `makeUpdateBatch` + `runPpoEpochs`: policy + reference forward, ' +
      'KL-penalised rewards, GAE, whitening, minibatch epochs); PPO epochs = the same numerator over the epochs alone (TRL: ' +
      '`time/ppo/optimize_step`; ours: `runPpoEpochs`, section 4\'s "PPO update").',
    '',
    ...columns.map(phaseLine),
    '',
    `Where we stand: against TRL at ${threadsLabel(first.info.threads)}, median paired ratio wall-clock: rollout ×${median('rollout', 'wall')}, ` +
      `PPO step ×${median('step', 'wall')}, PPO epochs ×${median('epochs', 'wall')}; by CPU time: rollout ×${median('rollout', 'cpu')}, ` +
      `PPO step ×${median('step', 'cpu')}.`,
    '',
    referenceLine(
      spec,
      columns.find((c) => c.info.threads === 1),
      reference,
    ),
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
  const python = trlPython();
  const backend = await initBackend({ log: () => undefined });
  const spec = presetSpec(preset, SEED);
  console.log(`trl-compare: ${preset}, ${runs} pairs, backend ${backend.name}`);
  const ours = oursSide(spec);
  const columns: Column[] = [];
  try {
    for (const n of threads) {
      const column = await measureColumn(python, spec, n, ours, runs);
      console.log(`threads ${column.info.threads}`, JSON.stringify(column));
      columns.push(column);
    }
  } finally {
    ours.dispose();
  }
  // runPythonJson's interpreter is $BENCH_PYTHON: here the TRL venv's, whose torch is hf-venv's.
  process.env.BENCH_PYTHON = python;
  const reference = await runPythonJson<ReferenceThroughput>('bench.py', [JSON.stringify({ mode: 'throughput', runs, threads: [1], ...spec })]);
  console.log('reference', JSON.stringify(reference));
  const command = `npx tsx bench/trl-compare.ts --preset ${preset} --runs ${runs} --threads ${values.threads}`;
  const md = report({ spec, backend, columns, oursTrainable: ours.trainableParams, reference, preset, command });
  console.log(md);
  if (!values['no-write']) await writeSection('trl', md);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
