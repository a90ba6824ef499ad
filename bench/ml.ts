/**
 * ML throughput benchmark: `npx tsx bench/ml.ts [--runs 5] [--leak-updates 200] [--backends tensorflow,wasm] [--no-write]`.
 *
 * For the d=64 (`small`) and d=128 (`medium`) model configs it measures tokens per second of
 *   - SFT (teacher forcing, forward + backward + AdamW): one epoch per run;
 *   - reward-model training: one epoch per run (its figure includes the epoch's validation pass);
 *   - PPO rollout: generated tokens / `time/rollout` (sampling with the KV cache + scoring);
 *   - PPO update: ppoEpochs × (prompt + response) tokens / `time/update` (the minibatch epochs);
 * each as the median of `--runs` runs after one warm-up run, with min–max as the spread.
 * Then it runs `--leak-updates` PPO updates of a tiny config and fits a line to
 * `tf.memory().numTensors` after each update: the slope must be 0 (no tensor leak).
 * The results replace the ML section of bench/RESULTS.md (between its markers).
 *
 * `--backends a,b` runs the whole measurement once per backend, each in its own process
 * (RLHF_BACKEND set; one tfjs backend per process, as in a worker), one after the other, and
 * writes one table with the backends side by side and the first-named backend's speed
 * over each other's. Without it, the backend is the one a worker would pick.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { MetricKeys } from '../common/names';
import { initBackend } from '../ml/backend';
import { PRESETS, resolveRunConfig, type ModelConfig, type PresetName, type RunConfig } from '../spec/run-config';
import { GptModel } from '../ml/model';
import { PpoTrainer } from '../ml/ppo-trainer';
import { RewardModel, trainRewardModel } from '../ml/reward-model';
import { Rng } from '../ml/rng';
import { fitScoreNormalization } from '../ml/score-normalization';
import { trainSft } from '../ml/sft';
import { makeSyntheticFeedback, syntheticPrompts } from '../ml/synthetic-task';
import { tf } from '../ml/tf';
import { ByteTokenizer } from '../ml/tokenizer';

const SEED = 99;
const tok = new ByteTokenizer();
const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');
const SECTION_START = '<!-- bench/ml.ts:start -->';
const SECTION_END = '<!-- bench/ml.ts:end -->';

interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number;
}

function summarize(xs: number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], runs: s.length };
}

/** One warm-up call (kernels, caches), then `runs` measured calls. */
async function measure(runs: number, once: () => Promise<number>): Promise<Summary> {
  await once();
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) xs.push(await once());
  return summarize(xs);
}

/** The preset with its reward model sized like its policy, and one epoch per training call. */
function benchConfig(preset: PresetName): RunConfig {
  const cfg = resolveRunConfig(preset, { seed: SEED });
  cfg.sft.epochs = 1;
  cfg.reward.epochs = 1;
  return cfg;
}

/** Feedback rows long enough for a few batches: 4 batches of SFT/RM per epoch. */
function benchRows(cfg: RunConfig) {
  return makeSyntheticFeedback(cfg.sft.batchSize * 4, new Rng(SEED));
}

async function sftTokensPerSecond(cfg: RunConfig): Promise<number> {
  const policy = GptModel.create(cfg.policyModel, new Rng(SEED));
  try {
    const r = await trainSft({ policy, rows: benchRows(cfg), config: cfg, tokenizer: tok, rng: new Rng(SEED) });
    return r.tokensPerSecond;
  } finally {
    policy.dispose();
  }
}

async function rewardTokensPerSecond(cfg: RunConfig): Promise<number> {
  const rows = benchRows(cfg);
  const split = Math.floor(rows.length * 0.8);
  const r = await trainRewardModel({ train: rows.slice(0, split), val: rows.slice(split), config: cfg, tokenizer: tok, rng: new Rng(SEED) });
  r.model.dispose();
  return r.metrics.tokensPerSecond;
}

interface PpoThroughput {
  rollout: Summary;
  update: Summary;
  secondsPerUpdate: Summary;
}

function untrainedReward(model: ModelConfig): RewardModel {
  return new RewardModel(GptModel.create(model, new Rng(SEED + 1)), model, fitScoreNormalization([0, 1]));
}

/** PPO updates of an untrained policy: responses mostly run to maxNewTokens, so every update does the full work. */
async function ppoThroughput(cfg: RunConfig, runs: number): Promise<PpoThroughput> {
  const policy = GptModel.create(cfg.policyModel, new Rng(SEED));
  const reward = untrainedReward({ ...cfg.policyModel, lora: { rank: 0, alpha: 0, dropout: 0 } });
  const prompts = syntheticPrompts(64, new Rng(SEED));
  const promptTokens = 1 + prompts.reduce((n, p) => n + tok.encode(p).length, 0) / prompts.length; // BOS + bytes
  const trainer = PpoTrainer.create({ config: cfg, policy, reward, tokenizer: tok, prompts, seed: SEED });
  const rollout: number[] = [];
  const update: number[] = [];
  const total: number[] = [];
  try {
    await trainer.step(); // warm-up
    for (let i = 0; i < runs; i++) {
      const m = await trainer.step();
      const generated = cfg.ppo.batchSize * m[MetricKeys.responseLength];
      rollout.push(generated / m[MetricKeys.timeRollout]);
      update.push((cfg.ppo.ppoEpochs * cfg.ppo.batchSize * (promptTokens + m[MetricKeys.responseLength])) / m[MetricKeys.timeUpdate]);
      total.push(m[MetricKeys.timeTotal]);
    }
  } finally {
    trainer.dispose();
    policy.dispose();
    reward.dispose();
  }
  return { rollout: summarize(rollout), update: summarize(update), secondsPerUpdate: summarize(total) };
}

interface LeakResult {
  updates: number;
  first: number;
  last: number;
  /** Least-squares slope of numTensors per update, after the first update. */
  slope: number;
}

/** Tensor count after each of `updates` PPO updates of a tiny config. */
async function tensorLeak(updates: number): Promise<LeakResult> {
  const cfg = resolveRunConfig('quick', { seed: SEED });
  cfg.policyModel = { ...cfg.policyModel, nLayer: 1, nEmbd: 16, blockSize: 32 };
  cfg.ppo = { ...cfg.ppo, totalUpdates: updates, batchSize: 4, miniBatchSize: 2, ppoEpochs: 1, generation: { ...cfg.ppo.generation, maxNewTokens: 4 } };
  const policy = GptModel.create(cfg.policyModel, new Rng(SEED));
  const reward = untrainedReward({ ...cfg.policyModel, lora: { rank: 0, alpha: 0, dropout: 0 } });
  const trainer = PpoTrainer.create({ config: cfg, policy, reward, tokenizer: tok, prompts: syntheticPrompts(16, new Rng(SEED)), seed: SEED });
  const counts: number[] = [];
  try {
    for (let i = 0; i < updates; i++) {
      await trainer.step();
      counts.push(tf.memory().numTensors);
    }
  } finally {
    trainer.dispose();
    policy.dispose();
    reward.dispose();
  }
  const xs = counts.map((_, i) => i + 1);
  const mx = xs.reduce((a, x) => a + x, 0) / xs.length;
  const my = counts.reduce((a, y) => a + y, 0) / counts.length;
  const cov = xs.reduce((a, x, i) => a + (x - mx) * (counts[i] - my), 0);
  const varX = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  return { updates, first: counts[0], last: counts[counts.length - 1], slope: varX > 0 ? cov / varX : 0 };
}

const fmt = (s: Summary) => `${Math.round(s.median)} (${Math.round(s.min)}–${Math.round(s.max)})`;
const fmtSeconds = (s: Summary) => `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;

interface ConfigResult {
  label: string;
  cfg: RunConfig;
  sft: Summary;
  reward: Summary;
  ppo: PpoThroughput;
}

function markdown(results: ConfigResult[], leak: LeakResult, backend: string, command: string, load: number[]): string {
  const cpu = os.cpus();
  const lines = [
    SECTION_START,
    '## ML throughput (bench/ml.ts)',
    '',
    `- Command: \`${command}\``,
    `- Date: ${new Date().toISOString().slice(0, 10)}; machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, Node ${process.version}; ` +
      `load average at start ${load.map((l) => l.toFixed(1)).join(' / ')} (shared machine: absolute numbers are noisy)`,
    `- TensorFlow.js backend: **${backend}**`,
    `- Tokens/s, median of ${results[0]?.sft.runs ?? 0} runs after one warm-up, (min–max) as the spread.`,
    '',
    '| config | SFT tok/s | reward model tok/s | PPO rollout tok/s | PPO update tok/s | s / PPO update |',
    '| --- | --- | --- | --- | --- | --- |',
    ...results.map((r) => `| ${r.label} | ${fmt(r.sft)} | ${fmt(r.reward)} | ${fmt(r.ppo.rollout)} | ${fmt(r.ppo.update)} | ${fmtSeconds(r.ppo.secondsPerUpdate)} |`),
    '',
    ...results.map((r) => {
      const m = r.cfg.policyModel;
      const p = r.cfg.ppo;
      return `- ${r.label}: ${m.nLayer} layers, d=${m.nEmbd}, ${m.nHead} heads, blockSize ${m.blockSize}, LoRA r=${m.lora.rank}; SFT/RM batch ${r.cfg.sft.batchSize}/${r.cfg.reward.batchSize}; PPO batch ${p.batchSize}, minibatch ${p.miniBatchSize}, ${p.ppoEpochs} epochs, maxNewTokens ${p.generation.maxNewTokens}.`;
    }),
    '- Rollout tok/s = generated tokens / `time/rollout` (generation with the KV cache, then reward-model scoring). Update tok/s = ppoEpochs × batch × (prompt + response tokens) / `time/update`. The reward-model figure includes its per-epoch validation pass.',
    '',
    `Tensor count over ${leak.updates} PPO updates (tiny config): ${leak.first} after the first, ${leak.last} after the last; ` +
      `least-squares slope **${leak.slope.toFixed(4)} tensors/update** (flat = 0).`,
    SECTION_END,
  ];
  return lines.join('\n');
}

/** What one backend's process measured (`--child-json`). */
interface BackendRun {
  backend: string;
  results: ConfigResult[];
  leak: LeakResult;
}

/** Runs this bench in a child process on `backend`, returning what it measured. */
async function runOnBackend(backend: string, runs: number, leakUpdates: number): Promise<BackendRun> {
  const out = path.join(os.tmpdir(), `bench-ml-${process.pid}-${backend}.json`);
  const args = ['tsx', __filename, '--runs', String(runs), '--leak-updates', String(leakUpdates), '--child-json', out];
  await new Promise<void>((resolve, reject) => {
    const child = execFile('npx', args, { env: { ...process.env, RLHF_BACKEND: backend }, maxBuffer: 64 * 1024 * 1024 }, (err) =>
      err ? reject(err) : resolve(),
    );
    child.stdout?.on('data', (d: Buffer) => process.stdout.write(d));
  });
  const run = JSON.parse(await fs.readFile(out, 'utf8')) as BackendRun;
  await fs.rm(out, { force: true });
  return run;
}

/** One table with the backends side by side; ratio = first backend's speed / the other's (> 1: the first is faster). */
function sideBySideMarkdown(runs: BackendRun[], command: string, load: number[]): string {
  const cpu = os.cpus();
  const [first, ...others] = runs;
  const metrics: { name: string; pick: (r: ConfigResult) => Summary; seconds?: boolean }[] = [
    { name: 'SFT tok/s', pick: (r) => r.sft },
    { name: 'reward model tok/s', pick: (r) => r.reward },
    { name: 'PPO rollout tok/s', pick: (r) => r.ppo.rollout },
    { name: 'PPO update tok/s', pick: (r) => r.ppo.update },
    { name: 's / PPO update', pick: (r) => r.ppo.secondsPerUpdate, seconds: true },
  ];
  const header = ['config', 'figure', ...runs.map((r) => r.backend), ...others.map((o) => `${first.backend} / ${o.backend} speed`)];
  const rows: string[] = [];
  first.results.forEach((res, i) => {
    for (const m of metrics) {
      const cells = runs.map((r) => (m.seconds ? fmtSeconds : fmt)(m.pick(r.results[i])));
      const ratios = others.map((o) => {
        const a = m.pick(res).median;
        const b = m.pick(o.results[i]).median;
        return (m.seconds ? b / a : a / b).toFixed(2);
      });
      rows.push(`| ${res.label} | ${m.name} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
    }
  });
  return [
    SECTION_START,
    '## ML throughput (bench/ml.ts)',
    '',
    `- Command: \`${command}\``,
    `- Date: ${new Date().toISOString().slice(0, 10)}; machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, Node ${process.version}; ` +
      `load average at start ${load.map((l) => l.toFixed(1)).join(' / ')}`,
    `- Backends, each in its own process, one after the other: ${runs.map((r) => `**${r.backend}**`).join(', ')}.`,
    `- Median of ${first.results[0]?.sft.runs ?? 0} runs after one warm-up, (min–max) as the spread.`,
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows,
    '',
    ...first.results.map((r) => {
      const m = r.cfg.policyModel;
      const p = r.cfg.ppo;
      return `- ${r.label}: ${m.nLayer} layers, d=${m.nEmbd}, ${m.nHead} heads, blockSize ${m.blockSize}, LoRA r=${m.lora.rank}; SFT/RM batch ${r.cfg.sft.batchSize}/${r.cfg.reward.batchSize}; PPO batch ${p.batchSize}, minibatch ${p.miniBatchSize}, ${p.ppoEpochs} epochs, maxNewTokens ${p.generation.maxNewTokens}.`;
    }),
    '- Rollout tok/s = generated tokens / `time/rollout` (generation with the KV cache, then reward-model scoring). Update tok/s = ppoEpochs × batch × (prompt + response tokens) / `time/update`. The reward-model figure includes its per-epoch validation pass.',
    '',
    ...runs.map(
      (r) =>
        `Tensor count over ${r.leak.updates} PPO updates (tiny config) on ${r.backend}: ${r.leak.first} after the first, ${r.leak.last} after the last; ` +
        `least-squares slope **${r.leak.slope.toFixed(4)} tensors/update** (flat = 0).`,
    ),
    SECTION_END,
  ].join('\n');
}

/** Replaces the ML section of RESULTS.md (or appends it), leaving other sections alone. */
async function writeSection(section: string): Promise<void> {
  let text = '';
  try {
    text = await fs.readFile(RESULTS_FILE, 'utf8');
  } catch {
    text = '# Benchmark results\n';
  }
  const start = text.indexOf(SECTION_START);
  const end = text.indexOf(SECTION_END);
  const next =
    start >= 0 && end > start ? text.slice(0, start) + section + text.slice(end + SECTION_END.length) : `${text.trimEnd()}\n\n${section}\n`;
  await fs.writeFile(RESULTS_FILE, next);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      'leak-updates': { type: 'string', default: '200' },
      backends: { type: 'string' },
      'child-json': { type: 'string' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  const leakUpdates = Number(values['leak-updates']);
  const load = os.loadavg();
  if (values.backends) {
    const names = values.backends.split(',').filter(Boolean);
    const measured: BackendRun[] = [];
    for (const name of names) measured.push(await runOnBackend(name, runs, leakUpdates));
    const section = sideBySideMarkdown(measured, `npx tsx bench/ml.ts --runs ${runs} --leak-updates ${leakUpdates} --backends ${names.join(',')}`, load);
    if (!values['no-write']) await writeSection(section);
    console.info(section);
    return;
  }
  const backend = await initBackend({ log: () => undefined });
  console.info(`[bench] backend ${backend.name}; ${runs} runs per figure`);
  const results: ConfigResult[] = [];
  for (const preset of ['small', 'medium'] as const) {
    const cfg = benchConfig(preset);
    const label = `d=${PRESETS[preset].policyModel.nEmbd} (${preset})`;
    const sft = await measure(runs, () => sftTokensPerSecond(cfg));
    console.info(`[bench] ${label} SFT ${fmt(sft)} tok/s`);
    const reward = await measure(runs, () => rewardTokensPerSecond(cfg));
    console.info(`[bench] ${label} reward model ${fmt(reward)} tok/s`);
    const ppo = await ppoThroughput(cfg, runs);
    console.info(`[bench] ${label} PPO rollout ${fmt(ppo.rollout)} tok/s, update ${fmt(ppo.update)} tok/s, ${fmtSeconds(ppo.secondsPerUpdate)} s/update`);
    results.push({ label, cfg, sft, reward, ppo });
  }
  const leak = await tensorLeak(leakUpdates);
  console.info(`[bench] tensors over ${leak.updates} updates: ${leak.first} → ${leak.last}, slope ${leak.slope.toFixed(4)}/update`);
  if (values['child-json']) {
    const run: BackendRun = { backend: backend.name, results, leak };
    await fs.writeFile(values['child-json'], JSON.stringify(run));
    return;
  }
  const command = `npx tsx bench/ml.ts --runs ${runs} --leak-updates ${leakUpdates}`;
  const section = markdown(results, leak, backend.name, command, load);
  if (!values['no-write']) await writeSection(section);
  console.info(section);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
