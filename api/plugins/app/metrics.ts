/**
 * Decorates `fastify.apiMetrics`: the API's Prometheus metrics (prom-client), in a registry of this app
 * instance (no module-level default registry: tests build many apps in one process). It records every
 * request's duration by route PATTERN (`/api/runs/:runId`, never the raw URL, so ids do not become label
 * values) and status; the feedback route counts rows written and idempotent replays; `rlhf_runs` is read
 * from the database at scrape time. Served by routes/metrics.ts. Names: common/names.ts PromMetrics.
 */
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { PromMetrics } from '../../../common/names';
import { TrainingRunStatuses } from '../../../db/entities';
import { TrainingRunRepository } from '../../../db/repositories';

/** The `route` label of a request that matched no route (404s of unknown paths): one value, not the URL. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Request-duration buckets, seconds: prom-client's defaults (5 ms … 10 s) would put every feedback write
 * (a few ms) in one bucket; these resolve 1 ms … 10 s.
 */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ApiMetrics {
  registry: Registry;
  httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>;
  feedbackRowsWritten: Counter;
  idempotentReplays: Counter<'route'>;
  runs: Gauge<'status'>;
}

declare module 'fastify' {
  interface FastifyInstance {
    apiMetrics: ApiMetrics;
  }
}

export default fp(
  async (fastify) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const orm = fastify.orm;
    const metrics: ApiMetrics = {
      registry,
      httpRequestDuration: new Histogram({
        name: PromMetrics.httpRequestDuration,
        help: 'HTTP request duration in seconds, by method, route pattern and status code',
        labelNames: ['method', 'route', 'status_code'],
        buckets: DURATION_BUCKETS,
        registers: [registry],
      }),
      feedbackRowsWritten: new Counter({ name: PromMetrics.feedbackRowsWritten, help: 'Feedback rows written (replayed requests write none)', registers: [registry] }),
      idempotentReplays: new Counter({
        name: PromMetrics.idempotentReplays,
        help: 'Requests answered with the stored answer of their Idempotency-Key, by route pattern',
        labelNames: ['route'],
        registers: [registry],
      }),
      runs: new Gauge({
        name: PromMetrics.runs,
        help: 'Training runs by status, all projects (the database at scrape time)',
        labelNames: ['status'],
        registers: [registry],
        async collect() {
          try {
            const counts = await new TrainingRunRepository(orm.em.fork()).countByStatus();
            for (const status of Object.values(TrainingRunStatuses)) this.set({ status }, counts[status]);
          } catch (err) {
            // No database, no run counts: the series go missing (an absent series, not a wrong 0) and the rest still scrapes.
            this.reset();
            fastify.log.warn({ err }, 'rlhf_runs not collected');
          }
        },
      }),
    };
    fastify.decorate('apiMetrics', metrics);
    fastify.addHook('onResponse', async (request, reply) => {
      metrics.httpRequestDuration.observe(
        { method: request.method, route: request.routeOptions.url ?? UNMATCHED_ROUTE, status_code: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });
  },
  { name: 'api-metrics', dependencies: ['orm'] },
);
