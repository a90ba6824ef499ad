/**
 * What a worker process sets up before it connects: its pino logger, the Temporal Runtime routed into it,
 * and (with WORKER_METRICS_PORT) its /metrics server merging the SDK's runtime metrics (worker/metrics.ts).
 */
import pino from 'pino';
import type { Env } from '../common/env';
import { createWorkerLogger, routeConsoleToLogger, type PinoLogger } from './logger';
import { prepareWorkerMetrics, serveWorkerMetrics, type WorkerMetrics } from './metrics';
import { installWorkerRuntime } from './runtime';

export interface WorkerObservability {
  logger: PinoLogger;
  /** The registry training gauges join; null without WORKER_METRICS_PORT. */
  metrics: WorkerMetrics | null;
}

/** Logger and Runtime first (the Runtime is process-wide and must precede any connection), then /metrics. */
export async function setUpObservability(env: Env, role: 'cpu' | 'gpu'): Promise<WorkerObservability> {
  const logger = createWorkerLogger(env, role);
  routeConsoleToLogger(logger);
  const metrics = env.WORKER_METRICS_PORT === undefined ? null : await prepareWorkerMetrics();
  installWorkerRuntime(logger, metrics?.temporalBindAddress ?? null);
  if (metrics && env.WORKER_METRICS_PORT !== undefined) {
    const { port } = await serveWorkerMetrics(metrics, { host: env.WORKER_METRICS_HOST, port: env.WORKER_METRICS_PORT, logger });
    logger.info({ metricsPort: port }, `${role} worker metrics at http://${env.WORKER_METRICS_HOST}:${port}/metrics`);
  }
  return { logger, metrics };
}

/** Logs a start-up failure as one JSON line (the worker's logger may not exist yet) and exits 1. */
export function failStartup(err: unknown): never {
  pino({ base: { pid: process.pid } }).fatal({ err }, 'worker failed');
  process.exit(1);
}
