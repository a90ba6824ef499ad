/**
 * Temporal test plumbing: a TestWorkflowEnvironment on the suite's dev server
 * (TEMPORAL_ADDRESS from scripts/test.sh), unique ids and task queues per test, the workflow
 * bundle built once per file, and CPU + GPU workers wired to the real activities.
 */
import { randomBytes } from 'node:crypto';
import { MockActivityEnvironment, TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { MikroORM } from '@mikro-orm/postgresql';
import { temporal } from '@temporalio/proto';
import { createDataActivities, createTrainingActivities, type ActivityLogger } from '../../activities';
import { runEventLog } from '../../activities/run-events';
import type { ArtifactStore } from '../../storage/artifact-store';
import { WORKFLOWS_PATH } from '../../worker/create-worker';

/**
 * Sends the SDK's own logs (worker state changes, expected workflow failures) to stderr only
 * from ERROR up. Installs the process-wide Runtime once; a no-op if one already exists.
 */
export function installQuietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch (err) {
    if (!(err instanceof Error) || err.name !== 'IllegalStateError') throw err;
  }
}

/** Connects to the running dev server; fails with a clear message when the suite's services are absent. */
export async function connectTestEnv(): Promise<TestWorkflowEnvironment> {
  installQuietRuntime();
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: run the suite with `npm test` (scripts/test.sh starts Temporal)');
  return TestWorkflowEnvironment.createFromExistingServer({ address, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
}

/** `prefix-` + 12 random url-safe chars: ids and queue names no other test shares. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(9).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x')}`;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | null = null;
/** The production workflow code, bundled once per test file (bundling takes seconds). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger() });
  return bundle;
}

/** A logger that drops the bundler's and workers' chatter; warnings still reach stderr. */
function quietLogger() {
  const noop = () => undefined;
  return { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };
}

/**
 * A MockActivityEnvironment whose SDK logger is silent (expected failures would otherwise
 * print full stacks), optionally seeded with a previous attempt's heartbeat details.
 */
export function quietActivityEnv(heartbeatDetails?: unknown): MockActivityEnvironment {
  return new MockActivityEnvironment({ heartbeatDetails }, { logger: quietLogger() });
}

/** Runs one activity function in a fresh quiet mock environment. */
export function runInActivityEnv<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return quietActivityEnv().run(fn, ...args) as Promise<R>;
}

/** Activity logger that keeps test output clean. */
export const silentActivityLog: ActivityLogger = { info: () => undefined, warn: () => undefined };

export interface TestQueues {
  cpu: string;
  gpu: string;
}

export function uniqueQueues(): TestQueues {
  return { cpu: uniqueId('cpu'), gpu: uniqueId('gpu') };
}

/**
 * Runs a CPU worker (workflows + data activities) and a GPU worker (training activities)
 * on the given queues while `fn` runs, then shuts both down.
 */
export async function withWorkers<T>(
  env: TestWorkflowEnvironment,
  deps: { orm: MikroORM; store: ArtifactStore; queues: TestQueues },
  fn: () => Promise<T>,
): Promise<T> {
  const activityDeps = { orm: deps.orm, store: deps.store, log: silentActivityLog, runEvents: runEventLog(deps.orm) };
  const cpu = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace,
    taskQueue: deps.queues.cpu,
    workflowBundle: await workflowBundle(),
    activities: createDataActivities(activityDeps),
  });
  const gpu = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace,
    taskQueue: deps.queues.gpu,
    activities: createTrainingActivities(activityDeps),
    maxConcurrentActivityTaskExecutions: 1,
  });
  return cpu.runUntil(gpu.runUntil(fn));
}

const { History } = temporal.api.history.v1;
type HistoryMessage = temporal.api.history.v1.History;

/**
 * A history as JSON, in protobufjs's object form (enums by name, 64-bit ints and bytes as
 * strings). Not the SDK's historyToJSON: in this install @temporalio/common carries its own
 * protobufjs copy whose proto3-JSON codec rejects the SDK's message types ("type must be a
 * Type"), so histories round-trip through @temporalio/proto's own codec instead.
 */
export function historyToPortableJson(history: unknown): string {
  const message = History.fromObject(history as Record<string, unknown>);
  return JSON.stringify(History.toObject(message, { longs: String, enums: String, bytes: String, defaults: false }), null, 1);
}

/** Inverse of historyToPortableJson: a History message Worker.runReplayHistories accepts. */
export function historyFromPortableJson(json: string): HistoryMessage {
  return History.fromObject(JSON.parse(json) as Record<string, unknown>);
}

/** Polls `probe` until it returns a value (not undefined); no timing assertion, just a bound. */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, limitMs = 120_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A run config small enough for a whole workflow in seconds on two cores: one-layer
 * models, 4-sequence PPO batches, 4 updates in chunks of 2. The gate is open (−1) so runs
 * on learnable feedback always reach PPO; the gate test sets its own threshold.
 */
export const TINY_CONFIG_PATCH = {
  policyModel: { nLayer: 1, nHead: 1, nEmbd: 16, blockSize: 32, lora: { rank: 2, alpha: 4, dropout: 0 } },
  reward: {
    model: { nLayer: 1, nHead: 1, nEmbd: 16, blockSize: 32 },
    epochs: 3,
    batchSize: 16,
    earlyStoppingPatience: 3,
  },
  sft: { epochs: 1, batchSize: 16 },
  ppo: {
    totalUpdates: 4,
    batchSize: 4,
    miniBatchSize: 4,
    ppoEpochs: 1,
    generation: { maxNewTokens: 6, temperature: 1, topK: 0, topP: 1 },
  },
  gate: { minValPearson: -1 },
  updatesPerChunk: 2,
};

/**
 * TINY_CONFIG_PATCH with the byte tokenizer, for activity tests that write a run's train/val
 * snapshots themselves instead of running splitDataset (which trains the presets' BPE tokenizer
 * and stores it in the config; ml/run-tokenizer.ts).
 */
export const TINY_BYTE_CONFIG_PATCH = { ...TINY_CONFIG_PATCH, tokenizer: { kind: 'byte' } };
