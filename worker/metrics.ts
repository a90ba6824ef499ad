/**
 * A worker's Prometheus `/metrics` (WORKER_METRICS_PORT): prom-client's process metrics, the training
 * gauges of the runs this worker is training (`TrainingGauges`), and the Temporal SDK's runtime metrics.
 *
 * One port, merged: the SDK's exporter (Runtime.install telemetry, worker/runtime.ts) always binds a port of
 * its own, so it is bound to a free LOOPBACK port that nothing outside the host reaches, and this server
 * appends its text to prom-client's on every scrape. Prometheus then scrapes one target per worker, and the
 * SDK's port never needs opening. The two sets share no names (`temporal_*` vs `rlhf_*`, `process_*`, `nodejs_*`).
 * Names: common/names.ts PromMetrics; scrape config: docs/observability.md.
 */
import { createServer, type Server } from 'node:http';
import { freeLoopbackPort } from '../common/loopback-port';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { TrainingMetricsSink, TrainingUpdateSample } from '../activities';
import { MetricKeys, PromMetrics } from '../common/names';
import type { PinoLogger } from './logger';

/** How long a scrape waits for the SDK's exporter before serving without its metrics. */
const TEMPORAL_SCRAPE_TIMEOUT_MS = 2_000;

type RunLabels = 'run_id' | 'backend';

/**
 * How long a run's series outlive its last update on this worker. A run cancelled or failed BETWEEN two
 * chunks (say, while paused) never reaches a chunk that could remove them, so they would stay until the
 * worker restarts; after this long without an update they are dropped at the next scrape. A run paused for
 * longer loses them too, and gets them back with its next update.
 */
export const STALE_RUN_MS = 60 * 60 * 1000;

/**
 * Per-run training gauges, labelled run_id and backend (the worker's tfjs backend). A run's series exist
 * while this worker trains it: set on every PPO update, removed after its last update or when its chunk
 * fails or is cancelled (a retry, here or on another worker, reports it again), or STALE_RUN_MS after its
 * last update. Between two chunks of a run, and while it is paused, the series keep their last values.
 */
export class TrainingGauges implements TrainingMetricsSink {
  private readonly gauges: Record<'update' | 'total' | 'tokensPerSecond' | 'reward' | 'kl' | 'klCoef', Gauge<RunLabels>>;
  /** Run id → when its last update was reported (Date.now()). */
  private readonly runs = new Map<string, number>();

  constructor(
    registry: Registry,
    private readonly backend: string,
    private readonly staleAfterMs = STALE_RUN_MS,
  ) {
    const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames: ['run_id', 'backend'], registers: [registry] });
    const pruneStale = () => this.pruneStale();
    this.gauges = {
      // Collected first of the six (registration order), so a scrape never shows half a stale run.
      update: new Gauge({ name: PromMetrics.trainingUpdate, help: 'PPO updates done in the run', labelNames: ['run_id', 'backend'], registers: [registry], collect: pruneStale }),
      total: gauge(PromMetrics.trainingTotalUpdates, 'PPO updates the run will do'),
      tokensPerSecond: gauge(PromMetrics.trainingTokensPerSecond, 'Generated tokens per second of the last update (batch × mean response length ÷ time/total)'),
      reward: gauge(PromMetrics.trainingReward, `Mean reward-model score of the last update's responses (${MetricKeys.scores})`),
      kl: gauge(PromMetrics.trainingKl, `KL of the policy from its reference, last update (${MetricKeys.klObjective})`),
      klCoef: gauge(PromMetrics.trainingKlCoef, `KL penalty coefficient β after the last update (${MetricKeys.klCoef})`),
    };
  }

  updateDone(sample: TrainingUpdateSample): void {
    const labels = { run_id: sample.runId, backend: this.backend };
    this.runs.set(sample.runId, Date.now());
    this.gauges.update.set(labels, sample.update);
    this.gauges.total.set(labels, sample.totalUpdates);
    this.gauges.tokensPerSecond.set(labels, sample.tokensPerSecond);
    this.gauges.reward.set(labels, sample.metrics[MetricKeys.scores]);
    this.gauges.kl.set(labels, sample.metrics[MetricKeys.klObjective]);
    this.gauges.klCoef.set(labels, sample.metrics[MetricKeys.klCoef]);
  }

  private pruneStale(): void {
    const now = Date.now();
    for (const [runId, at] of this.runs) if (now - at > this.staleAfterMs) this.runEnded(runId);
  }

  runEnded(runId: string): void {
    if (!this.runs.delete(runId)) return;
    for (const g of Object.values(this.gauges)) g.remove({ run_id: runId, backend: this.backend });
  }
}

export interface WorkerMetrics {
  registry: Registry;
  /** Where the SDK's exporter listens (loopback), e.g. 127.0.0.1:41234; null when Temporal metrics are off. */
  temporalBindAddress: string | null;
}

/** The worker's registry (process metrics included) and the loopback address for the SDK's exporter. */
export async function prepareWorkerMetrics(): Promise<WorkerMetrics> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return { registry, temporalBindAddress: `127.0.0.1:${await freeLoopbackPort()}` };
}

/** prom-client's exposition followed by the SDK's (or a comment saying why it is missing). */
export async function renderWorkerMetrics(metrics: WorkerMetrics, logger: PinoLogger): Promise<string> {
  const own = await metrics.registry.metrics();
  if (!metrics.temporalBindAddress) return own;
  try {
    const res = await fetch(`http://${metrics.temporalBindAddress}/metrics`, { signal: AbortSignal.timeout(TEMPORAL_SCRAPE_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`answered ${res.status}`);
    const text = await res.text();
    return `${own.endsWith('\n') ? own : `${own}\n`}${text}`;
  } catch (err) {
    logger.warn({ err }, 'temporal runtime metrics unavailable for this scrape');
    return `${own}\n# temporal runtime metrics unavailable\n`;
  }
}

/** Serves GET /metrics on host:port (0: any free port); resolves once listening, with the port taken. */
export async function serveWorkerMetrics(metrics: WorkerMetrics, opts: { host: string; port: number; logger: PinoLogger }): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    renderWorkerMetrics(metrics, opts.logger).then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: unknown) => {
        opts.logger.error({ err }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('metrics server has no port');
  // A worker must not stay alive for its metrics server alone.
  server.unref();
  return { server, port: address.port };
}
