/**
 * Benchmark 5: how one PPO update's time grows with sequence length (64, 128, 256 at width 64)
 * and model width (64, 128, 256 at sequence length 128), ours and PyTorch (1 thread), as a
 * table and bench/plots/scaling.png. The update is bench/lib/workload.ts's runPpoEpochs on the
 * `small` model shape (2 layers, 4 heads, LoRA r=8) with a smaller batch so the largest point
 * stays bounded: batch 16, minibatch 8, 1 epoch (2 optimizer steps); response = second half.
 *   npx tsx bench/scaling.ts [--runs 5] [--no-write]
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../ml/backend';
import { GptModel } from '../ml/model';
import { Rng } from '../ml/rng';
import { tf } from '../ml/tf';
import { findPython, REFERENCE_DIR, runPythonJson } from './lib/python';
import { machineLine, mdTable, writeSection } from './lib/results';
import { repeat, summarize, type Summary } from './lib/stats';
import { makeUpdateBatch, ppoUpdater, presetSpec, type WorkloadSpec } from './lib/workload';

const SEED = 5151;
const FIXED_WIDTH = 64;
const FIXED_SEQ = 128;
const POINTS = [
  { seqLen: 64, width: FIXED_WIDTH },
  { seqLen: 128, width: FIXED_WIDTH },
  { seqLen: 256, width: FIXED_WIDTH },
  { seqLen: FIXED_SEQ, width: 128 },
  { seqLen: FIXED_SEQ, width: 256 },
];
const PLOT = path.join(__dirname, 'plots', 'scaling.png');

interface Point {
  seqLen: number;
  width: number;
}

function scalingSpec(): WorkloadSpec {
  const spec = presetSpec('small', SEED);
  return { ...spec, ppo: { ...spec.ppo, batchSize: 16, miniBatchSize: 8, ppoEpochs: 1 } };
}

async function oursAt(spec: WorkloadSpec, p: Point, runs: number): Promise<Summary> {
  const rng = new Rng(SEED);
  const pointSpec = { ...spec, model: { ...spec.model, nEmbd: p.width, blockSize: p.seqLen } };
  const policy = GptModel.create(pointSpec.model, rng);
  const batch = makeUpdateBatch(policy, pointSpec, p.seqLen / 2, p.seqLen, rng);
  const updater = ppoUpdater(policy, pointSpec, rng);
  try {
    return summarize(await repeat(runs, () => updater.update(batch)));
  } finally {
    updater.dispose();
    tf.dispose(Object.values(batch));
    policy.dispose();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'no-write': { type: 'boolean', default: false } } });
  const runs = Number(values.runs);
  const backend = await initBackend({ log: () => undefined });
  const spec = scalingSpec();
  const ours: Summary[] = [];
  for (const p of POINTS) {
    ours.push(await oursAt(spec, p, runs));
    console.log(`ours T=${p.seqLen} C=${p.width}: ${ours[ours.length - 1].median.toFixed(3)} s`);
  }
  const torch = await runPythonJson<{ torch: string; byThreads: Record<string, (Point & { seconds: number[] })[]> }>('bench.py', [
    JSON.stringify({ mode: 'scaling', runs, threads: [1], points: POINTS, ...spec }),
  ]);
  const theirs = torch.byThreads['1'].map((r) => summarize(r.seconds));
  const fmt = (s: Summary) => `${s.median.toFixed(3)} (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;
  const rows = POINTS.map((p, i) => [p.seqLen, p.width, fmt(ours[i]), fmt(theirs[i]), (theirs[i].median / ours[i].median).toFixed(3)]);
  // Growth from the smallest point of each sweep: how the cost scales, independent of the constant factor.
  const growth = (i: number, base: number) => `${(ours[i].median / ours[base].median).toFixed(1)}× / ${(theirs[i].median / theirs[base].median).toFixed(1)}×`;
  execFileSync(findPython('matplotlib'), [
    path.join(REFERENCE_DIR, 'plot_scaling.py'),
    JSON.stringify({
      points: POINTS.map((p, i) => ({ ...p, ours: ours[i].median, torch: theirs[i].median })),
      fixedWidth: FIXED_WIDTH,
      fixedSeqLen: FIXED_SEQ,
      out: PLOT,
      title: `One PPO update (batch 16, 1 epoch, 2 layers): ours (tfjs ${backend.name}) vs PyTorch`,
    }),
  ]);
  const md = [
    '## 5. Scaling',
    '',
    machineLine(`ours: tfjs ${tf.version_core} on ${backend.name}; PyTorch ${torch.torch}, 1 thread`),
    '',
    `Command: \`npx tsx bench/scaling.ts --runs ${runs}\`. One PPO update = \`runPpoEpochs\` on the \`small\` shape (2 layers, 4 heads, LoRA r=8) ` +
      'with batch 16, minibatch 8, 1 epoch (2 optimizer steps), response = second half of each sequence. Seconds, median (min–max) ' +
      `of ${runs} runs after a warm-up; ratio = PyTorch / ours (> 1: we are faster).`,
    '',
    mdTable(['seq len', 'width', 'ours s/update', 'PyTorch s/update', 'ratio'], rows),
    '',
    `Growth (ours / PyTorch): sequence 64 → 256 at width 64: ${growth(2, 0)}; width 64 → 256 at length 128: ${growth(4, 1)}.`,
    '',
    '![scaling](plots/scaling.png)',
  ].join('\n');
  console.log(md);
  if (!values['no-write']) await writeSection('scaling', md);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
