/**
 * What a run has done, for dashboards and the CLI: the project's runs (filtered, paged), a run's
 * per-update metrics history with sampled completions, and its live event stream (SSE). All read
 * Postgres only (no TensorFlow.js, no artifact store), so the API may run apart from the workers.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { TrainingRun } from '../../db/entities';
import { identityOf, loadOwnedRun, requireOwnedAgent } from '../ownership';
import { streamRunEvents } from '../run-event-stream';
import { ErrorBody, RunIdParams, authErrorResponses } from '../schemas/common';
import {
  DEFAULT_METRICS_LIMIT,
  DEFAULT_RUNS_LIMIT,
  EventsHeaders,
  EventsQuery,
  EventsStream,
  MetricsBody,
  MetricsQuery,
  RunListBody,
  RunListQuery,
} from '../schemas/run-history';

function summaryOf(run: TrainingRun) {
  const self = `/api/runs/${run.id}`;
  return {
    runId: run.id,
    workflowId: run.workflowId,
    agentId: run.agentId,
    status: run.status,
    error: run.error,
    createdAt: run.createdAt.toISOString(),
    updatedAt: run.updatedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
    lastEventId: run.eventSeq,
    links: { self, metrics: `${self}/metrics`, events: `${self}/events` },
  };
}

const runHistoryRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  // Streams end when the server closes, so close() does not wait on open connections.
  const closing = new AbortController();
  fastify.addHook('preClose', async () => closing.abort());

  fastify.get(
    '/api/runs',
    {
      schema: {
        summary: 'The project\'s training runs, newest first, filtered by agent, status and creation time',
        querystring: RunListQuery,
        response: { 200: RunListBody, 404: ErrorBody, ...authErrorResponses },
      },
    },
    async (request) => {
      const { agentId, status, since, cursor, limit = DEFAULT_RUNS_LIMIT } = request.query;
      if (agentId !== undefined) await requireOwnedAgent(request, agentId);
      const filter = { agentId, status, since: since === undefined ? undefined : new Date(since) };
      const page = await request.repos.trainingRuns.page(identityOf(request).projectId, filter, cursor ?? null, limit);
      return { items: page.items.map(summaryOf), nextCursor: page.nextCursor };
    },
  );

  fastify.get(
    '/api/runs/:runId/metrics',
    {
      schema: {
        summary: 'Per-update PPO metrics and sampled completions of a run, as recorded by the worker',
        params: RunIdParams,
        querystring: MetricsQuery,
        response: { 200: MetricsBody, 404: ErrorBody, ...authErrorResponses },
      },
    },
    async (request) => {
      const { from = 1, limit = DEFAULT_METRICS_LIMIT } = request.query;
      const run = await loadOwnedRun(request, request.params.runId);
      const rows = await request.repos.runEvents.updates(run.id, from, limit + 1);
      const items = rows.slice(0, limit);
      return {
        runId: run.id,
        items: items.map((u) => ({ update: u.update, metrics: u.metrics, samples: u.samples, createdAt: u.createdAt.toISOString() })),
        nextFrom: rows.length > limit ? items[items.length - 1].update + 1 : null,
      };
    },
  );

  fastify.get(
    '/api/runs/:runId/events',
    {
      schema: {
        summary: 'Live run events (Server-Sent Events): phases, every PPO update, checkpoints, recoveries, evaluation, end',
        description:
          'Send `Authorization: Bearer <key>` (read it with fetch() + ReadableStream; EventSource cannot set headers). ' +
          'Resume with `Last-Event-ID` (or `?after=`): events after that id, none missed, none repeated.',
        params: RunIdParams,
        querystring: EventsQuery,
        headers: EventsHeaders,
        response: { 200: { description: 'The event stream', content: { 'text/event-stream': { schema: EventsStream } } }, 404: ErrorBody, ...authErrorResponses },
      },
    },
    async (request, reply) => {
      const run = await loadOwnedRun(request, request.params.runId);
      const header = request.headers['last-event-id'];
      const afterSeq = header !== undefined ? Number(header) : (request.query.after ?? 0);
      await streamRunEvents(request, reply, { client: fastify.temporal, run, afterSeq, follow: request.query.follow ?? true, maxStreamMs: fastify.appConfig.env.RUN_EVENTS_MAX_STREAM_S * 1000, closing: closing.signal });
    },
  );
};

export default runHistoryRoutes;
