/**
 * What the activities need from their process, injected by the worker (real ORM, store)
 * or by a test. No module-level singletons: each createActivities call owns its deps.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { UpdateMetrics } from '../common/names';
import type { ArtifactStore } from '../storage/artifact-store';
import type { RunEventSink } from './run-events';

/** The subset of a logger the activities use (Temporal's activity `log` fits). */
export interface ActivityLogger {
  info(message: string, attrs?: Record<string, unknown>): void;
  warn(message: string, attrs?: Record<string, unknown>): void;
}

/** One PPO update as the worker's training gauges see it (worker/metrics.ts). */
export interface TrainingUpdateSample {
  runId: string;
  /** Updates done so far in the run. */
  update: number;
  totalUpdates: number;
  metrics: UpdateMetrics;
  /** Generated tokens per second of this update: batch × mean response length ÷ time/total. */
  tokensPerSecond: number;
}

/** Where a PPO chunk reports each update and the end of its run's training on this worker. */
export interface TrainingMetricsSink {
  updateDone(sample: TrainingUpdateSample): void;
  /** The run's last update is done, or its chunk failed or was cancelled: drop its series. */
  runEnded(runId: string): void;
}

export interface ActivityDeps {
  orm: MikroORM;
  store: ArtifactStore;
  /**
   * The run event stream and per-update history the API serves (activities/run-events.ts
   * `runEventLog(orm)`). Default: nothing recorded (activity tests without a database).
   */
  runEvents?: RunEventSink;
  /** Defaults to Temporal's activity logger (carries the activity's context). */
  log?: ActivityLogger;
  /** Fewest feedback rows a run accepts (the seed's API required 10). */
  minFeedbackRows?: number;
  /** PPO writes a checkpoint every this many updates, and always at a chunk's end (default 1). */
  checkpointEvery?: number;
  /**
   * Liveness heartbeat period while a PPO chunk computes, ms (0 turns it off). Default: a third
   * of the activity's heartbeatTimeout (activities/heartbeat `heartbeatTickMs`).
   */
  heartbeatTickMs?: number;
  /**
   * Runs whose live PPO trainer this process keeps between chunks (activities/trainer-cache.ts;
   * default 1: the chunks of one run follow each other on a worker; 0 turns it off).
   */
  trainerCacheSize?: number;
  /** Per-update training gauges (the GPU worker's /metrics); none in tests that do not ask. */
  trainingMetrics?: TrainingMetricsSink;
  /** Checkpoints kept at the end of each PPO chunk; older ones are deleted (default 2). */
  keepCheckpoints?: number;
  /** Keep the run's dataset copy and checkpoints after its version is saved (default: delete them). */
  keepRunArtifacts?: boolean;
}

/** Defaults for the optional deps, in one place. */
export const ACTIVITY_DEFAULTS = {
  minFeedbackRows: 10,
  checkpointEvery: 1,
  trainerCacheSize: 1,
  keepCheckpoints: 2,
  keepRunArtifacts: false,
} as const;
