/**
 * Drives real training runs through the full Temporal workflow for the benches: in-process
 * CPU worker (workflow + data activities) and, unless the bench runs its own, GPU worker
 * (training activities), as the workflow tests do; feedback rows and the run record are
 * seeded as the API does. Queue names and ids are unique per bench process.
 */
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createDataActivities, createTrainingActivities, type ActivityLogger } from '../../activities';
import { FeedbackRepository, TrainingRunRepository } from '../../db/repositories';
import type { FeedbackExample } from '../../spec/train-val-split';
import type { ArtifactStore } from '../../storage/artifact-store';
import { WORKFLOWS_PATH } from '../../worker/create-worker';
import { trainingWorkflowType, type ConfigPatch, type TrainPolicyInput, type TrainPolicyResult } from '../../contract/run-contract';
import type { BenchDatabase } from './services';

export const silentLog: ActivityLogger = { info: () => undefined, warn: () => undefined };

export function uniqueId(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** The SDK's own logs only from ERROR up (expected worker shutdowns stay quiet). */
export function installQuietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch (err) {
    if (!(err instanceof Error) || err.name !== 'IllegalStateError') throw err;
  }
}

export interface Orchestrator {
  client: Client;
  queues: { cpu: string; gpu: string };
  /** Runs `fn` while the workers poll; shuts them down afterwards. */
  withWorkers<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface OrchestratorOptions {
  temporalAddress: string;
  namespace: string;
  db: BenchDatabase;
  store: ArtifactStore;
  /** false: no in-process GPU worker (the bench runs GPU workers as child processes). */
  gpuWorker?: boolean;
  /** The activities' logger (default: silent). */
  log?: ActivityLogger;
  /** The GPU worker's trainer cache (activities/trainer-cache.ts; default: the activities' default). */
  trainerCacheSize?: number;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | null = null;
const noop = () => undefined;
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };

export async function createOrchestrator(opts: OrchestratorOptions): Promise<Orchestrator> {
  installQuietRuntime();
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  const native = await NativeConnection.connect({ address: opts.temporalAddress });
  const connection = await Connection.connect({ address: opts.temporalAddress });
  const client = new Client({ connection, namespace: opts.namespace });
  const queues = { cpu: uniqueId('bench-cpu'), gpu: uniqueId('bench-gpu') };
  const deps = { orm: opts.db.orm, store: opts.store, log: opts.log ?? silentLog, trainerCacheSize: opts.trainerCacheSize };
  return {
    client,
    queues,
    async withWorkers(fn) {
      const cpu = await Worker.create({
        connection: native,
        namespace: opts.namespace,
        taskQueue: queues.cpu,
        workflowBundle: await bundle!,
        activities: createDataActivities(deps),
      });
      if (opts.gpuWorker === false) return cpu.runUntil(fn);
      const gpu = await Worker.create({
        connection: native,
        namespace: opts.namespace,
        taskQueue: queues.gpu,
        activities: createTrainingActivities(deps),
        maxConcurrentActivityTaskExecutions: 1,
      });
      return cpu.runUntil(gpu.runUntil(fn));
    },
    async close() {
      await connection.close();
      await native.close();
    },
  };
}

/** A run whose feedback rows and record are in the database, as the API leaves them before a run starts. */
export interface SeededRun {
  runId: string;
  agentId: string;
  workflowId: string;
}

export interface StartedRun extends SeededRun {
  result(): Promise<TrainPolicyResult>;
  /** The execution's event history (for where its time went: bench/lib/workflow-timeline). */
  history(): Promise<temporal.api.history.v1.IHistory>;
}

/** Seeds the agent's feedback and the run record (what the API has done before a run starts). */
export async function seedTrainingRun(db: BenchDatabase, rows: readonly FeedbackExample[]): Promise<SeededRun> {
  const runId = uniqueId('run');
  const agentId = uniqueId('agent');
  const workflowId = `bench-${runId}`;
  await new FeedbackRepository(db.orm.em.fork()).insertMany(rows.map((r) => ({ prompt: r.prompt, response: r.response, score: r.score, agentId, runId: 'bench' })));
  await new TrainingRunRepository(db.orm.em.fork()).create({ id: runId, workflowId, agentId, config: {} });
  return { runId, agentId, workflowId };
}

/** Starts the training workflow of a seeded run. */
export async function startSeededRun(
  orch: Orchestrator,
  seeded: SeededRun,
  input: { seed: number; configPatch: ConfigPatch; preset?: string },
): Promise<StartedRun> {
  const { runId, agentId, workflowId } = seeded;
  const args: TrainPolicyInput = { runId, agentId, preset: input.preset ?? 'quick', seed: input.seed, configPatch: input.configPatch, taskQueues: orch.queues };
  const handle = await orch.client.workflow.start(trainingWorkflowType, { workflowId, taskQueue: orch.queues.cpu, args: [args] });
  return { ...seeded, result: () => handle.result() as Promise<TrainPolicyResult>, history: () => handle.fetchHistory() };
}

/** Seeds the agent's feedback and the run record, then starts the training workflow. */
export async function startTrainingRun(
  orch: Orchestrator,
  db: BenchDatabase,
  rows: readonly FeedbackExample[],
  input: { seed: number; configPatch: ConfigPatch; preset?: string },
): Promise<StartedRun> {
  return startSeededRun(orch, await seedTrainingRun(db, rows), input);
}
