/** Decorates `fastify.appConfig`: the environment plus API policy settings, read once at start-up. */
import fp from 'fastify-plugin';
import type { Env } from '../../../common/env';
import { TaskQueues } from '../../../common/names';
import { FLOPS_PER_SECOND_BY_BACKEND, workerBackendOf } from '../../dry-run-estimate';

export interface ScoreRange {
  /** Inclusive bounds; either may be omitted. Default: any finite number (normalised per agent). */
  min?: number;
  max?: number;
}

export interface AppConfig {
  env: Env;
  scoreRange: ScoreRange;
  /** The seed refused to train on fewer than 10 feedback rows. */
  minFeedbackForTraining: number;
  /**
   * Calibration constant of the dry-run time estimate (api/dry-run-estimate.ts). Default: the rate of
   * the workers' backend (workerBackendOf the environment).
   */
  flopsPerSecond: number;
  /** Task queues the API's runs use; the shared names unless a deployment (or a test) isolates its workers. */
  taskQueues: { cpu: string; gpu: string };
}

/** What callers of buildApp pass; everything but `env` has a documented default. */
export interface AppOptions {
  env: Env;
  scoreRange?: ScoreRange;
  minFeedbackForTraining?: number;
  flopsPerSecond?: number;
  taskQueues?: { cpu: string; gpu: string };
}

declare module 'fastify' {
  interface FastifyInstance {
    appConfig: AppConfig;
  }
}

export function resolveAppConfig(opts: AppOptions): AppConfig {
  const { min, max } = opts.scoreRange ?? {};
  if (min !== undefined && max !== undefined && !(min <= max)) {
    throw new Error(`scoreRange.min (${min}) must not exceed scoreRange.max (${max})`);
  }
  return {
    env: opts.env,
    scoreRange: opts.scoreRange ?? {},
    minFeedbackForTraining: opts.minFeedbackForTraining ?? 10,
    flopsPerSecond: opts.flopsPerSecond ?? FLOPS_PER_SECOND_BY_BACKEND[workerBackendOf(opts.env)],
    taskQueues: opts.taskQueues ?? { cpu: TaskQueues.cpu, gpu: TaskQueues.gpu },
  };
}

export default fp<AppOptions>(
  async (fastify, opts) => {
    fastify.decorate('appConfig', resolveAppConfig(opts));
  },
  { name: 'app-config' },
);
