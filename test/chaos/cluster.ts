/**
 * A private deployment for one fault-test file: its OWN Temporal dev server (free port, its
 * own SQLite file, so it can be stopped and restarted without disturbing other test files,
 * and so the real worker entry points can poll the production queue names rlhf-cpu/rlhf-gpu),
 * a database of its own (the suite's Postgres unless one is given), an artifact root of its
 * own, and the worker/API processes started from the real entry points.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Client, Connection, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { MikroORM } from '@mikro-orm/postgresql';
import { runArtifacts } from '../../storage/artifact-keys';
import { newRunId, workflowIdOf } from '../../api/run-workflows';
import { SearchAttributeKeys, TaskQueues, type UpdateMetrics } from '../../common/names';
import { FeedbackRepository, TrainingRunRepository } from '../../db/repositories';
import { listCheckpoints } from '../../ml/checkpoint';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { trainingWorkflowType, type ConfigPatch, type TrainPolicyInput } from '../../contract/run-contract';
import { freeLoopbackPort } from '../helpers/browser';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { ManagedProcess, ProcessGroup, ReadyLines, WorkerScripts, sleep } from '../helpers/processes';
import { testArtifactRoot, testServices } from '../helpers/services';
import { TINY_CONFIG_PATCH } from '../helpers/temporal';

const agentIdKey = defineSearchAttributeKey(SearchAttributeKeys.agentId, SearchAttributeType.KEYWORD);

/** Tiny models (TINY_CONFIG_PATCH) with `totalUpdates` PPO updates in chunks of `updatesPerChunk`; checkpoint every update (the default). */
export function tinyPatch(totalUpdates: number, updatesPerChunk: number): ConfigPatch {
  return { ...TINY_CONFIG_PATCH, ppo: { ...TINY_CONFIG_PATCH.ppo, totalUpdates }, updatesPerChunk };
}

/** The dev-server process and how to start it again on the same SQLite file. */
export class DevServer {
  process: ManagedProcess;

  private constructor(
    private readonly group: ProcessGroup,
    private readonly cliPath: string,
    readonly port: number,
    readonly dbFile: string,
  ) {
    this.process = this.spawn();
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(group: ProcessGroup, cliPath: string, dbFile: string): Promise<DevServer> {
    const server = new DevServer(group, cliPath, await freeLoopbackPort(), dbFile);
    await server.waitReady();
    return server;
  }

  private spawn(): ManagedProcess {
    return this.group.spawn('temporal', this.cliPath, [
      'server',
      'start-dev',
      '--headless',
      '--ip',
      '127.0.0.1',
      '--port',
      String(this.port),
      '--db-filename',
      this.dbFile,
      '--log-level',
      'error',
      '--search-attribute',
      `${SearchAttributeKeys.agentId}=Keyword`,
      '--search-attribute',
      `${SearchAttributeKeys.runPhase}=Keyword`,
    ]);
  }

  /** Until the frontend answers a namespace call (the port opens before the namespace is ready). */
  async waitReady(limitMs = 60_000): Promise<void> {
    const deadline = Date.now() + limitMs;
    let connection: Connection | null = null;
    try {
      for (;;) {
        try {
          connection ??= await Connection.connect({ address: this.address, connectTimeout: 2_000 });
          await connection.workflowService.describeNamespace({ namespace: 'default' });
          return;
        } catch (err) {
          if (!this.process.alive) throw new Error(`temporal dev server exited:\n${this.process.tail()}`);
          if (Date.now() > deadline) throw new Error(`temporal dev server not ready after ${limitMs} ms: ${(err as Error).message}`);
          await sleep(200);
        }
      }
    } finally {
      await connection?.close();
    }
  }

  /** Graceful stop (SIGTERM): the state stays in the SQLite file. */
  async stop(): Promise<void> {
    await this.process.stop();
  }

  /** Starts the server again on the same port and SQLite file. */
  async restart(): Promise<void> {
    this.process = this.spawn();
    await this.waitReady();
  }
}

export interface StartedRun {
  runId: string;
  agentId: string;
  handle: WorkflowHandleWithFirstExecutionRunId;
}

export interface ClusterOptions {
  /** Base name for the artifact directory. */
  name: string;
  /** A database to use instead of a fresh one on the suite's Postgres (the outage test brings its own). */
  database?: { url: string; orm: MikroORM };
}

export class ChaosCluster {
  private constructor(
    readonly processes: ProcessGroup,
    readonly temporal: DevServer,
    readonly connection: Connection,
    readonly client: Client,
    readonly databaseUrl: string,
    readonly orm: MikroORM,
    private readonly testDb: TestDatabase | null,
    readonly artifactRoot: string,
  ) {}

  readonly store = (): LocalArtifactStore => new LocalArtifactStore(this.artifactRoot);

  static async start(opts: ClusterOptions): Promise<ChaosCluster> {
    const services = testServices();
    const artifactRoot = testArtifactRoot(opts.name, services);
    const testDb = opts.database ? null : await createTestDatabase();
    const database = opts.database ?? { url: testDb!.url, orm: testDb!.orm };
    const group = new ProcessGroup();
    try {
      const temporal = await DevServer.start(group, services.temporalCliPath, path.join(artifactRoot, 'temporal.db'));
      const connection = await Connection.connect({ address: temporal.address });
      const client = new Client({ connection, namespace: 'default' });
      return new ChaosCluster(group, temporal, connection, client, database.url, database.orm, testDb, artifactRoot);
    } catch (err) {
      await group.stopAll();
      await testDb?.dispose();
      throw err;
    }
  }

  /** Environment of every worker/API process (common/env.ts variables). */
  processEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      DATABASE_URL: this.databaseUrl,
      TEMPORAL_ADDRESS: this.temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      ARTIFACT_ROOT: this.artifactRoot,
      // The same backend for every run, so runs compared bit for bit used the same kernels.
      RLHF_BACKEND: 'cpu',
      // The fault tests inspect a finished run's checkpoints, old ones and torn temporaries
      // included; retention (pruning at chunk ends, deletion at the save) is checked in
      // test/activities/ppo-chunk.test.ts and test/workflows/training-run.test.ts.
      RLHF_KEEP_RUN_ARTIFACTS: '1',
      RLHF_KEEP_CHECKPOINTS: '1000',
      LOG_LEVEL: 'warn',
      ...extra,
    };
  }

  /** Starts a worker entry point (or a fixture wrapping one) and waits until it polls. */
  async startWorker(kind: 'cpu' | 'gpu', script: string = WorkerScripts[kind], extraEnv: NodeJS.ProcessEnv = {}): Promise<ManagedProcess> {
    // Workers log through pino at LOG_LEVEL: info, so their ready line (an info line) is printed.
    const worker = this.processes.spawnTsx(`${kind}-worker`, script, { env: this.processEnv({ LOG_LEVEL: 'info', ...extraEnv }) });
    await worker.waitFor(kind === 'cpu' ? ReadyLines.cpuWorker : ReadyLines.gpuWorker);
    return worker;
  }

  /** Feedback rows for a new agent: 40 learnable synthetic rows from `seed`. */
  async seedAgent(seed: number, agentId = `agent-${randomBytes(6).toString('hex')}`): Promise<string> {
    const rows = makeSyntheticFeedback(40, new Rng(seed));
    await new FeedbackRepository(this.orm.em.fork()).insertMany(rows.map((r) => ({ ...r, agentId, runId: 'seed' })));
    return agentId;
  }

  /** Creates the run row and starts the workflow exactly as the API does, with a config patch. */
  async startRun(agentId: string, patch: ConfigPatch, extra: Partial<TrainPolicyInput> = {}): Promise<StartedRun> {
    const runId = newRunId();
    const workflowId = workflowIdOf(runId);
    await new TrainingRunRepository(this.orm.em.fork()).create({ id: runId, workflowId, agentId, config: {} });
    const input: TrainPolicyInput = { runId, agentId, preset: 'quick', seed: 7, configPatch: patch, ...extra };
    const handle = await this.client.workflow.start(trainingWorkflowType, {
      taskQueue: TaskQueues.cpu,
      workflowId,
      args: [input],
      typedSearchAttributes: [{ key: agentIdKey, value: agentId }],
    });
    return { runId, agentId, handle };
  }

  /** Per-update metrics files written so far, by update number. */
  async metricsWritten(runId: string): Promise<number[]> {
    const dir = this.store().resolve(path.dirname(runArtifacts.metrics(runId, 0)));
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    return names
      .map((n) => /^update-(\d+)\.json$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  async readMetrics(runId: string, update: number): Promise<UpdateMetrics> {
    return this.store().readJson<UpdateMetrics>(runArtifacts.metrics(runId, update));
  }

  /** Checkpoint directory names (published ones and temporaries) of a run. */
  async checkpointDirNames(runId: string): Promise<string[]> {
    const dir = this.store().resolve(runArtifacts.checkpoints(runId));
    return (await fs.readdir(dir).catch(() => [] as string[])).sort();
  }

  /** Updates of the run's published checkpoint directories (unverified), oldest first. */
  async checkpointUpdates(runId: string): Promise<number[]> {
    return (await listCheckpoints(this.store().resolve(runArtifacts.checkpoints(runId)))).map((c) => c.update);
  }

  async dispose(): Promise<void> {
    await this.processes.stopAll();
    await this.connection.close().catch(() => undefined);
    await this.testDb?.dispose();
  }
}

/** Polls `probe` every 25 ms until it returns a value; a bound, not a timing assertion. */
export async function until<T>(probe: () => Promise<T | undefined>, what: string, limitMs = 180_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(25);
  }
}
