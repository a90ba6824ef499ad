/**
 * What the activities need from their process, injected by the worker (real ORM, store)
 * or by a test. No module-level singletons: each createActivities call owns its deps.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import type { ArtifactStore } from '../storage/artifact-store';
import type { RunEventSink } from './run-events';

/** The subset of a logger the activities use (Temporal's activity `log` fits). */
export interface ActivityLogger {
  info(message: string, attrs?: Record<string, unknown>): void;
  warn(message: string, attrs?: Record<string, unknown>): void;
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
}

/** Defaults for the optional deps, in one place. */
export const ACTIVITY_DEFAULTS = {
  minFeedbackRows: 10,
  checkpointEvery: 1,
  trainerCacheSize: 1,
} as const;
