/**
 * Benchmark 6: memory over 1,000 PPO updates of the tiny config must stay flat. After every
 * --every updates it records the process RSS, the V8 heap and tf.memory() (tensor count and
 * bytes), then fits a least-squares line to each over the updates after --warmup (allocator
 * pools and the WASM heap grow to their working size first) and reports the slope per 1,000
 * updates. Flat means: tensor count and tensor bytes slope exactly 0 (no tensor leak) and RSS
 * growth under 1 % of the RSS per 1,000 updates
 * (a falling RSS, the allocator returning pages, is not a leak).
 *   npx tsx bench/memory.ts [--updates 1000] [--every 10] [--warmup 200] [--no-write]
 */
import { parseArgs } from 'node:util';
import { initBackend } from '../ml/backend';
import { tf } from '../ml/tf';
import { machineLine, mdTable, writeSection } from './lib/results';
import { linearSlope } from './lib/stats';
import { tinyConfig, untrainedTrainer } from './lib/tiny-run';

const SEED = 6060;
const MIB = 2 ** 20;

interface Sample {
  update: number;
  rss: number;
  heapUsed: number;
  numTensors: number;
  numBytes: number;
}

/** Collects garbage first when the process runs with --expose-gc (run-all.sh does), so RSS shows what is retained. */
function sample(update: number): Sample {
  (globalThis as { gc?: () => void }).gc?.();
  const mem = process.memoryUsage();
  const tfm = tf.memory();
  return { update, rss: mem.rss, heapUsed: mem.heapUsed, numTensors: tfm.numTensors, numBytes: tfm.numBytes };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      updates: { type: 'string', default: '1000' },
      every: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '200' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const updates = Number(values.updates);
  const every = Number(values.every);
  const warmup = Number(values.warmup);
  const backend = await initBackend({ log: () => undefined });
  const cfg = tinyConfig(updates, updates, SEED);
  const { trainer, dispose } = untrainedTrainer(cfg, SEED);
  const samples: Sample[] = [sample(0)];
  const t0 = performance.now();
  try {
    for (let u = 1; u <= updates; u++) {
      await trainer.step();
      if (u % every === 0) samples.push(sample(u));
    }
  } finally {
    dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  const fitted = samples.filter((s) => s.update >= warmup);
  const xs = fitted.map((s) => s.update / 1000);
  const slope = (k: keyof Sample) => linearSlope(xs, fitted.map((s) => s[k]));
  const first = fitted[0];
  const last = fitted[fitted.length - 1];
  const rssSlope = slope('rss');
  const flat = slope('numTensors') === 0 && slope('numBytes') === 0 && rssSlope < 0.01 * last.rss;
  const rows = [
    ['RSS (MiB)', (first.rss / MIB).toFixed(1), (last.rss / MIB).toFixed(1), (rssSlope / MIB).toFixed(2)],
    ['V8 heap used (MiB)', (first.heapUsed / MIB).toFixed(1), (last.heapUsed / MIB).toFixed(1), (slope('heapUsed') / MIB).toFixed(2)],
    ['tf.memory().numTensors', first.numTensors, last.numTensors, slope('numTensors').toFixed(3)],
    ['tf.memory().numBytes (KiB)', (first.numBytes / 1024).toFixed(1), (last.numBytes / 1024).toFixed(1), (slope('numBytes') / 1024).toFixed(3)],
  ];
  const md = [
    '## 6. Memory',
    '',
    machineLine(`tfjs ${tf.version_core} on ${backend.name}`),
    '',
    `Command: \`NODE_OPTIONS=--expose-gc npx tsx bench/memory.ts --updates ${updates}\` (gc ${'gc' in globalThis ? 'forced before each sample' : 'NOT exposed: samples include garbage'}). ${updates} \`PpoTrainer.step()\` calls of the tiny config (1 layer, width 16, ` +
      `batch 4, 6 new tokens, reward scoring included) in ${seconds.toFixed(0)} s; sampled every ${every} updates, line fitted from update ${warmup} on.`,
    '',
    mdTable(['measure', `at update ${first.update}`, `at update ${last.update}`, 'slope per 1,000 updates'], rows),
    '',
    `Verdict: ${flat ? 'flat' : 'NOT flat'} (criterion: tensor count and bytes slope exactly 0, RSS growing by less than 1 % of RSS per 1,000 updates; a negative slope is the allocator returning pages).`,
  ].join('\n');
  console.log(md);
  if (!values['no-write']) await writeSection('memory', md);
  if (!flat) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
