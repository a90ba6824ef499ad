/**
 * The Temporal Runtime of a worker process, installed once before any connection: the SDK's logs (its own,
 * and workflow/activity `log`) go to the worker's pino logger, the native core's WARN and above are forwarded
 * into it too, and when the worker serves /metrics the SDK's Prometheus exporter is bound to the loopback
 * address worker/metrics.ts merges from.
 */
import { makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { TemporalPinoLogger, type PinoLogger } from './logger';

export function installWorkerRuntime(logger: PinoLogger, temporalMetricsBindAddress: string | null): void {
  Runtime.install({
    logger: new TemporalPinoLogger(logger),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }), forward: {} },
      ...(temporalMetricsBindAddress
        ? { metrics: { prometheus: { bindAddress: temporalMetricsBindAddress, countersTotalSuffix: true, useSecondsForDurations: true, unitSuffix: true } } }
        : {}),
    },
  });
}
