/**
 * What both worker entry points share: connecting to the Temporal cluster named by the
 * environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, optional mTLS), the database and the
 * artifact store, and building a Worker for one task queue. Each entry point is a separate
 * process, so users run any number of CPU and GPU workers on any machines against one
 * cluster, one database and one shared artifact root.
 */
import { readFile } from 'node:fs/promises';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Env } from '../common/env';
import type { TaskQueue } from '../common/names';
import { createOrm } from '../db/orm';
import { LocalArtifactStore, type ArtifactStore } from '../storage/artifact-store';

/** Path of the workflow bundle's entry: every workflow function (bundled by the SDK). */
export const WORKFLOWS_PATH = require.resolve('../workflows');

/** Thrown when the environment lacks something a worker needs (e.g. DATABASE_URL). */
export class WorkerConfigError extends Error {
  override readonly name = 'WorkerConfigError';
  constructor(
    message: string,
    readonly variable: string,
  ) {
    super(message);
  }
}

/** Opens the worker's connection to Temporal, with mTLS when both cert and key are set. */
export async function connectTemporal(env: Env): Promise<NativeConnection> {
  const tls =
    env.TEMPORAL_TLS_CERT && env.TEMPORAL_TLS_KEY
      ? { clientCertPair: { crt: await readFile(env.TEMPORAL_TLS_CERT), key: await readFile(env.TEMPORAL_TLS_KEY) } }
      : undefined;
  return NativeConnection.connect({ address: env.TEMPORAL_ADDRESS, tls });
}

/** The resources activities are built from; `close` releases them after the worker stops. */
export interface WorkerResources {
  connection: NativeConnection;
  orm: MikroORM;
  store: ArtifactStore;
  close(): Promise<void>;
}

export async function openResources(env: Env): Promise<WorkerResources> {
  if (!env.DATABASE_URL) throw new WorkerConfigError('DATABASE_URL must be set for a worker', 'DATABASE_URL');
  const orm = await createOrm(env.DATABASE_URL);
  try {
    const connection = await connectTemporal(env);
    const store = new LocalArtifactStore(env.ARTIFACT_ROOT);
    return {
      connection,
      orm,
      store,
      async close() {
        await connection.close();
        await orm.close();
      },
    };
  } catch (err) {
    await orm.close(true);
    throw err;
  }
}

export interface QueueWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: TaskQueue;
  activities: object;
  /** Poll workflow tasks too (the CPU worker does). */
  workflows: boolean;
  /** Extra Worker options (concurrency limits, identity). */
  tuning?: Pick<WorkerOptions, 'maxConcurrentActivityTaskExecutions' | 'identity' | 'maxCachedWorkflows'>;
}

/** A Worker for one queue; the workflow code is bundled from WORKFLOWS_PATH when asked for. */
export async function createQueueWorker(opts: QueueWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    activities: opts.activities,
    ...(opts.workflows ? { workflowsPath: WORKFLOWS_PATH } : {}),
    ...opts.tuning,
  });
}

/** Runs a worker until SIGINT/SIGTERM (the SDK's default shutdown signals), then frees resources. */
export async function runUntilShutdown(worker: Worker, resources: WorkerResources): Promise<void> {
  try {
    await worker.run();
  } finally {
    await resources.close();
  }
}
