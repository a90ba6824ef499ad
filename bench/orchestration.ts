/**
 * Benchmark 1: orchestration overhead. The same training run (same config, feedback rows and
 * seeds) directly through ml/ in this process, and through the full Temporal workflow on the
 * real dev server with in-process workers (reward model → gate → SFT → PPO in checkpointed
 * chunks → export → save). The direct run does only the ML (split, reward model, SFT, PPO
 * updates, scoring the final policy on the validation prompts): no database, no artifact
 * store, no checkpoints. So the ratio prices everything durability adds: Temporal round trips,
 * Postgres, JSONL/metrics/checkpoint files, and opening the trainer at chunk starts.
 * Runs alternate (direct, workflow, workflow, direct, ...) after one warm-up of each.
 *
 * Where the workflow's extra time goes is read from each run's event history
 * (bench/lib/workflow-timeline.ts), from the per-update metrics files (time/total: the PPO
 * updates themselves) and from the PPO chunk's 'ppo chunk opened' log (time to its trainer).
 * Seeding the feedback rows and run record in Postgres is the API's work before a run starts
 * (the direct path gets its rows in memory too), so it is timed on its own, outside the ratio.
 *   npx tsx bench/orchestration.ts [--runs 5] [--preset quick --updates 10 --chunk 5] [--no-trainer-cache] [--no-write]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { ActivityLogger } from '../activities';
import { buildRunConfig } from '../activities/data';
import { runArtifacts } from '../storage/artifact-keys';
import { SeedOffsets } from '../activities/training';
import { MetricKeys, type UpdateMetrics } from '../common/names';
import { initBackend } from '../ml/backend';
import { PRESET_NAMES, type RunConfig } from '../spec/run-config';
import { splitTrainVal, type FeedbackExample } from '../spec/train-val-split';
import { GptModel } from '../ml/model';
import { generateText } from '../ml/policy-export';
import { PpoTrainer } from '../ml/ppo-trainer';
import { trainRewardModel } from '../ml/reward-model';
import { Rng } from '../ml/rng';
import { trainSft } from '../ml/sft';
import { mean } from '../ml/stats';
import { makeSyntheticFeedback } from '../ml/synthetic-task';
import { tf } from '../ml/tf';
import { ByteTokenizer } from '../ml/tokenizer';
import { LocalArtifactStore } from '../storage/artifact-store';
import type { ConfigPatch } from '../contract/run-contract';
import { machineLine, mdTable, writeSection } from './lib/results';
import { createBenchDatabase, benchServices } from './lib/services';
import { pairedRatios, summarize, timeWallAndCpu, type Summary } from './lib/stats';
import { createOrchestrator, seedTrainingRun, startSeededRun } from './lib/training-run';
import { breakdownOf, timelineOf, type TimelineBreakdown } from './lib/workflow-timeline';

const SEED = 1111;
const ROWS = 40;
const GOAL = 1.03;

/** The configuration; another one writes its own section (see `sectionName`). */
const DEFAULT_RUN = { preset: 'quick', updates: 10, chunk: 5 } as const;

interface RunShape {
  preset: string;
  updates: number;
  chunk: number;
}

/** Shortened phases, so one run takes seconds on `quick`: the cost measured is per run and per chunk. */
function patchFor(shape: RunShape): ConfigPatch {
  return {
    reward: { epochs: 5, earlyStoppingPatience: 5 },
    sft: { epochs: 2 },
    ppo: { totalUpdates: shape.updates },
    updatesPerChunk: shape.chunk,
    gate: { minValPearson: -1 },
  };
}

const isDefault = (s: RunShape) => s.preset === DEFAULT_RUN.preset && s.updates === DEFAULT_RUN.updates && s.chunk === DEFAULT_RUN.chunk;
const sectionName = (s: RunShape) => (isDefault(s) ? 'orchestration' : `orchestration-${s.preset}-${s.updates}x${s.chunk}`);

/** Milliseconds per phase of the direct run. */
interface DirectPhases {
  rewardModel: number;
  sft: number;
  ppo: number;
  evaluation: number;
}

async function timedMs<T>(into: Partial<DirectPhases>, phase: keyof DirectPhases, fn: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    into[phase] = performance.now() - t0;
  }
}

/** The workflow's phases, called directly on ml/ with the same seeds the activities use. */
async function directRun(cfg: RunConfig, rows: readonly FeedbackExample[]): Promise<{ rewardMean: number; phases: DirectPhases }> {
  const phases: Partial<DirectPhases> = {};
  const tokenizer = new ByteTokenizer();
  const { train, val } = splitTrainVal(rows, cfg.valFraction, new Rng(cfg.seed));
  const rm = await timedMs(phases, 'rewardModel', () =>
    trainRewardModel({ train, val, config: cfg, tokenizer, rng: new Rng(cfg.seed + SeedOffsets.rewardModel) }),
  );
  const sftRng = new Rng(cfg.seed + SeedOffsets.sft);
  const policy = GptModel.create(cfg.policyModel, sftRng);
  try {
    await timedMs(phases, 'sft', () => trainSft({ policy, rows: train, config: cfg, tokenizer, rng: sftRng }));
    const trainer = PpoTrainer.create({ config: cfg, policy, reward: rm.model, tokenizer, prompts: train.map((r) => r.prompt), seed: cfg.seed });
    try {
      await timedMs(phases, 'ppo', async () => {
        for (let u = 0; u < cfg.ppo.totalUpdates; u++) await trainer.step();
      });
    } finally {
      trainer.dispose();
    }
    // The workflow reports the same number as rewardMean.
    const rewardMean = await timedMs(phases, 'evaluation', () => {
      const evalRng = new Rng(cfg.seed + SeedOffsets.evaluation);
      const pairs = val.map((r) => ({ prompt: r.prompt, response: generateText(policy, tokenizer, r.prompt, cfg.ppo.generation, evalRng) }));
      return mean(rm.model.score(tokenizer, pairs));
    });
    return { rewardMean, phases: phases as DirectPhases };
  } finally {
    policy.dispose();
    rm.model.dispose();
  }
}

/** What one workflow run's time was spent on, besides its wall and CPU seconds. */
interface WorkflowDetail {
  rewardMean: number;
  /** Seeding the run's rows and record in Postgres (outside the timed window). */
  seedMs: number;
  timeline: TimelineBreakdown;
  /** Σ time/total over the run's PPO updates (the updates themselves, as the trainer timed them). */
  ppoStepsMs: number;
  /** Σ over chunks of the time from activity start to a trainer ready to step. */
  ppoOpenMs: number;
  /** How each chunk, then the export, got its trainer ('fresh', 'checkpoint', 'live trainer'). */
  openedFrom: string[];
  /** What only the workflow does, summed: chunk bookkeeping, data activities, dispatch, workflow tasks, client round trip. */
  fixedMs: number;
}

interface OpenLine {
  runId: string;
  openMs: number;
  from: string;
}

/** Collects the 'ppo chunk opened' and 'policy export opened' log lines, by run. */
function openLogCollector(): { log: ActivityLogger; take(runId: string): { chunks: OpenLine[]; exports: OpenLine[] } } {
  const chunks: OpenLine[] = [];
  const exports: OpenLine[] = [];
  return {
    log: {
      info: (message, attrs) => {
        if (message === 'ppo chunk opened') chunks.push(attrs as unknown as OpenLine);
        if (message === 'policy export opened') exports.push(attrs as unknown as OpenLine);
      },
      warn: () => undefined,
    },
    take: (runId) => ({ chunks: chunks.filter((l) => l.runId === runId), exports: exports.filter((l) => l.runId === runId) }),
  };
}

const DATA_ACTIVITIES = ['setRunStatus', 'resolveConfig', 'loadFeedback', 'splitDataset', 'savePolicy'];
const sumOf = (r: Record<string, number>, keys?: string[]) => (keys ?? Object.keys(r)).reduce((n, k) => n + (r[k] ?? 0), 0);

/**
 * The time only the workflow spends, ms: PPO chunks besides their updates, the data
 * activities, activity dispatch, workflow tasks and the client's round trip. Summed from the
 * breakdown, it is a steadier estimate of the overhead than the wall-time difference of two
 * runs on a shared machine, which also carries the ML's own run-to-run noise. It leaves out
 * what the reward-model, SFT and export activities do besides the ML (reading inputs, saving
 * models), which the history cannot separate from their training: a lower bound, then.
 */
function workflowOnlyMs(t: TimelineBreakdown, ppoStepsMs: number, wallMs: number): number {
  const chunkRest = (t.runMs.ppoChunk ?? 0) - ppoStepsMs;
  return chunkRest + sumOf(t.runMs, DATA_ACTIVITIES) + sumOf(t.queueMs) + t.betweenActivitiesMs + (wallMs - t.totalMs);
}

const fmt = (s: Summary, d = 2) => `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`;
const medianOf = (xs: number[]) => summarize(xs).median;

/** The breakdown table: median ms per run for each part, direct next to workflow. */
function breakdownTable(direct: DirectPhases[], wf: WorkflowDetail[], wallDirect: number[], wallWorkflow: number[]): string {
  const run = (type: string) => wf.map((w) => w.timeline.runMs[type] ?? 0);
  const dataRun = wf.map((w) => sumOf(w.timeline.runMs, DATA_ACTIVITIES));
  const queue = wf.map((w) => sumOf(w.timeline.queueMs));
  const chunkRest = wf.map((w) => (w.timeline.runMs.ppoChunk ?? 0) - w.ppoStepsMs);
  const client = wf.map((w, i) => wallWorkflow[i] * 1000 - w.timeline.totalMs);
  const ms = (x: number) => x.toFixed(0);
  const row = (part: string, d: number | null, w: number): string[] => [part, d === null ? '—' : ms(d), ms(w), ms(w - (d ?? 0))];
  const d = (k: keyof DirectPhases) => medianOf(direct.map((p) => p[k]));
  return mdTable(
    ['part (median ms per run)', 'direct', 'workflow', 'workflow − direct'],
    [
      row('reward model (activity run vs ml/ call)', d('rewardModel'), medianOf(run('trainRewardModel'))),
      row('SFT warm start', d('sft'), medianOf(run('sftWarmStart'))),
      row('PPO updates (Σ time/total; direct: the update loop)', d('ppo'), medianOf(wf.map((w) => w.ppoStepsMs))),
      row('PPO chunks besides updates: opening, checkpoint + metrics files, heartbeats', null, medianOf(chunkRest)),
      row('  of which opening (activity start → trainer ready)', null, medianOf(wf.map((w) => w.ppoOpenMs))),
      row('final evaluation (exportPolicy: also opens and writes the policy)', d('evaluation'), medianOf(run('exportPolicy'))),
      row(`data activities (${DATA_ACTIVITIES.join(', ')})`, null, medianOf(dataRun)),
      row('activity dispatch, scheduled → started (all activities)', null, medianOf(queue)),
      row('workflow tasks between activities (close → next schedule, start → first, last → close)', null, medianOf(wf.map((w) => w.timeline.betweenActivitiesMs))),
      row('  of which workflow-task dispatch (scheduled → started)', null, medianOf(wf.map((w) => w.timeline.workflowTaskQueueMs))),
      row('  of which the worker running workflow tasks (started → completed)', null, medianOf(wf.map((w) => w.timeline.workflowTaskRunMs))),
      row('client: start + result, outside the workflow span', null, medianOf(client)),
      row('workflow only, summed (chunk bookkeeping, data activities, dispatch, workflow tasks, client)', null, medianOf(wf.map((w) => w.fixedMs))),
      row('whole run (wall)', medianOf(wallDirect.map((s) => s * 1000)), medianOf(wallWorkflow.map((s) => s * 1000))),
    ],
  );
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      preset: { type: 'string', default: DEFAULT_RUN.preset },
      updates: { type: 'string', default: String(DEFAULT_RUN.updates) },
      chunk: { type: 'string', default: String(DEFAULT_RUN.chunk) },
      'no-write': { type: 'boolean', default: false },
      /** Runs the GPU worker without the live-trainer cache (every chunk reopens from disk), for a before/after. */
      'no-trainer-cache': { type: 'boolean', default: false },
    },
  });
  if (!(PRESET_NAMES as string[]).includes(values.preset)) throw new Error(`--preset must be one of ${PRESET_NAMES.join(', ')}`);
  const shape: RunShape = { preset: values.preset, updates: Number(values.updates), chunk: Number(values.chunk) };
  return { runs: Number(values.runs), write: !values['no-write'], shape, trainerCacheSize: values['no-trainer-cache'] ? 0 : undefined };
}

async function main(): Promise<void> {
  const { runs, write, shape, trainerCacheSize } = parseOptions();
  const patch = patchFor(shape);
  const backend = await initBackend({ log: () => undefined });
  const services = await benchServices((l) => console.log(l));
  const db = await createBenchDatabase(services.databaseUrl);
  const root = await mkdtemp(path.join(os.tmpdir(), 'bench-orch-'));
  const store = new LocalArtifactStore(root);
  const opens = openLogCollector();
  const orch = await createOrchestrator({ temporalAddress: services.temporalAddress, namespace: services.namespace, db, store, log: opens.log, trainerCacheSize });
  const rows = makeSyntheticFeedback(ROWS, new Rng(SEED));
  const cfg = buildRunConfig({ runId: 'direct', preset: shape.preset, seed: SEED, configPatch: patch });
  const cpu = { direct: [] as number[], workflow: [] as number[] };
  const directs: { rewardMean: number; phases: DirectPhases }[] = [];
  const workflows: WorkflowDetail[] = [];
  let result: { baseline: number[]; candidate: number[]; ratios: number[] };
  try {
    result = await orch.withWorkers(async () => {
      const direct = async () => {
        const t = await timeWallAndCpu(async () => directs.push(await directRun(cfg, rows)));
        cpu.direct.push(t.cpu);
        return t.wall;
      };
      const workflow = async () => {
        const s0 = performance.now();
        const seeded = await seedTrainingRun(db, rows);
        const seedMs = performance.now() - s0;
        let rewardMean = NaN;
        const t = await timeWallAndCpu(async () => {
          const r = await (await startSeededRun(orch, seeded, { seed: SEED, configPatch: patch, preset: shape.preset })).result();
          if (r.trainingSteps !== cfg.ppo.totalUpdates) throw new Error(`workflow ran ${r.trainingSteps} updates, expected ${cfg.ppo.totalUpdates}`);
          rewardMean = r.rewardMean;
        });
        const history = await orch.client.workflow.getHandle(seeded.workflowId).fetchHistory();
        const steps = await Promise.all(
          Array.from({ length: cfg.ppo.totalUpdates }, (_, i) => store.readJson<UpdateMetrics>(runArtifacts.metrics(seeded.runId, i + 1))),
        );
        const opened = opens.take(seeded.runId);
        const timeline = breakdownOf(timelineOf(history.events ?? []));
        const ppoStepsMs = 1000 * steps.reduce((n, m) => n + m[MetricKeys.timeTotal], 0);
        workflows.push({
          rewardMean,
          seedMs,
          timeline,
          ppoStepsMs,
          ppoOpenMs: opened.chunks.reduce((n, o) => n + o.openMs, 0),
          openedFrom: [...opened.chunks.map((o) => `chunk: ${o.from}`), ...opened.exports.map((o) => `export: ${o.from}`)],
          fixedMs: workflowOnlyMs(timeline, ppoStepsMs, t.wall * 1000),
        });
        cpu.workflow.push(t.cpu);
        return t.wall;
      };
      console.log(`warm-up: direct ${(await direct()).toFixed(1)} s, workflow ${(await workflow()).toFixed(1)} s`);
      cpu.direct.length = cpu.workflow.length = 0;
      directs.length = workflows.length = 0;
      return pairedRatios(runs, direct, workflow);
    });
  } finally {
    await orch.close();
    await db.dispose();
    await services.stop();
    await rm(root, { recursive: true, force: true });
  }
  const perType = (pick: (t: TimelineBreakdown) => Record<string, number>) =>
    Object.fromEntries(Object.keys(pick(workflows[0].timeline)).map((k) => [k, Math.round(medianOf(workflows.map((w) => pick(w.timeline)[k] ?? 0)))]));
  console.log('median ms per activity type, dispatch:', perType((t) => t.queueMs), 'run:', perType((t) => t.runMs));
  const md = report({ runs, shape, cfg, backendName: backend.name, result, cpu, directs, workflows });
  console.log(md);
  if (write) await writeSection(sectionName(shape), md);
}

interface ReportInput {
  runs: number;
  shape: RunShape;
  cfg: RunConfig;
  backendName: string;
  result: { baseline: number[]; candidate: number[]; ratios: number[] };
  cpu: { direct: number[]; workflow: number[] };
  directs: { rewardMean: number; phases: DirectPhases }[];
  workflows: WorkflowDetail[];
}

function report({ runs, shape, cfg, backendName, result, cpu, directs, workflows }: ReportInput): string {
  const ratio = summarize(result.ratios);
  const extra = summarize(result.candidate.map((c, i) => c - result.baseline[i]));
  const cpuRatio = summarize(cpu.workflow.map((c, i) => c / cpu.direct[i]));
  // Same seeds, rows (the DB returns them in insertion order) and config: the final policies must score the same.
  const sameResult = workflows.every((w, i) => Math.abs(w.rewardMean - directs[i].rewardMean) < 1e-6);
  const fixedShare = summarize(workflows.map((w, i) => w.fixedMs / (1000 * result.baseline[i])));
  const hopMs = summarize(workflows.map((w) => (sumOf(w.timeline.queueMs) + w.timeline.betweenActivitiesMs) / w.timeline.hops));
  const opened = workflows.flatMap((w) => w.openedFrom);
  const openedCounts = [...new Set(opened)].map((k) => `${opened.filter((o) => o === k).length} × ${k}`).join(', ');
  const m = cfg.policyModel;
  const flags = isDefault(shape) ? '' : ` --preset ${shape.preset} --updates ${shape.updates} --chunk ${shape.chunk}`;
  const title = isDefault(shape)
    ? '## 1. Orchestration overhead'
    : `## 1. Orchestration overhead, longer chunks (\`${shape.preset}\`, ${shape.updates} updates in chunks of ${shape.chunk})`;
  return [
    title,
    '',
    machineLine(`tfjs ${tf.version_core} on ${backendName}; Temporal dev server and Postgres on loopback`),
    '',
    `Command: \`npx tsx bench/orchestration.ts --runs ${runs}${flags}\`. One training run: ${ROWS} synthetic feedback rows, \`${shape.preset}\` model sizes ` +
      `(${m.nLayer} layers, width ${m.nEmbd}), reward model ${cfg.reward.epochs} epochs, SFT ${cfg.sft.epochs} epochs, ${cfg.ppo.totalUpdates} PPO updates ` +
      `in chunks of ${cfg.updatesPerChunk} (a checkpoint after every update, the activity default). ${runs} alternating pairs after one warm-up each; ` +
      'ratio per pair, then the median (min–max). The workflow is timed from start to result; seeding its feedback rows and run record ' +
      `in Postgres (the API's work before any run) took a further ${fmt(summarize(workflows.map((w) => w.seedMs)), 0)} ms and is not in the ratio.`,
    '',
    mdTable(
      ['path', 'wall seconds per run', 'CPU seconds of this process'],
      [
        ['direct through ml/ (no persistence)', fmt(summarize(result.baseline)), fmt(summarize(cpu.direct))],
        ['full Temporal workflow (durable)', fmt(summarize(result.candidate)), fmt(summarize(cpu.workflow))],
      ],
    ),
    '',
    `Ratio workflow / direct, wall time: **${fmt(ratio, 3)}** (the workflow adds ${fmt(extra)} s per run); CPU time of the bench ` +
      `process (ML + workers + client, not the Temporal server or Postgres): **${fmt(cpuRatio, 3)}**. Goal ≤ ${GOAL}: ` +
      `**${ratio.median <= GOAL ? 'met' : 'NOT met'}** on wall time. Same computation: the final policy's mean reward on the validation ` +
      `prompts is ${sameResult ? 'identical' : 'NOT identical'} on both paths in every pair (${directs[0]?.rewardMean.toFixed(6)}).`,
    '',
    'Where the workflow spends its time (server event times from each run\'s history; PPO update time from its metrics files; ' +
      `opening from the activities' logs). Trainers: ${openedCounts}. Medians per row, so the rows need not add up to the total.`,
    '',
    breakdownTable(
      directs.map((d) => d.phases),
      workflows,
      result.baseline,
      result.candidate,
    ),
    '',
    `The workflow-only time, summed per run from the breakdown, is ${fmt(summarize(workflows.map((w) => w.fixedMs / 1000)))} s, ` +
      `**${(100 * fixedShare.median).toFixed(1)} %** of the direct run (per pair ${(100 * fixedShare.min).toFixed(1)}–${(100 * fixedShare.max).toFixed(1)} %): ` +
      `by this estimate (free of the ML's run-to-run noise, but a lower bound: it leaves out the model saving inside the reward-model, ` +
      `SFT and export activities, which their rows show within noise) the goal is **${fixedShare.median <= GOAL - 1 ? 'met' : 'NOT met'}**. ` +
      `Most of it is server round trips: ${workflows[0]?.timeline.hops} per run (a dispatch per activity, a workflow task between activities), ` +
      `${fmt(hopMs, 0)} ms each on this machine at this load. PPO chunks reuse the trainer the previous chunk of the run left in the worker ` +
      '(activities/trainer-cache.ts; the export too), so a chunk start no longer re-reads config and prompts and re-opens the policy, the reward ' +
      'model and the checkpoint: it verifies the checkpoint on disk against the live trainer instead. What remains in the chunks is the durable ' +
      'writing itself (a metrics file and an fsynced checkpoint per update). The round trips are fixed per run and per chunk, not per token, so ' +
      'the share falls as chunks get longer. The dev server runs with eager activity execution (`system.enableActivityEagerExecution`, ' +
      'temporal/start-dev.sh), so activities on the workflow\'s own queue arrive with the workflow task\'s reply; the activity-dispatch row ' +
      'read 75 ms per run without it (load 2.7, 12:20Z). Fewer round trips still would need fewer, larger activities (a change of the ' +
      'workflow\'s command sequence, kept as it is so that every phase stays separately retried and visible).',
  ].join('\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
