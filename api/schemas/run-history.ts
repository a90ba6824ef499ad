/** Schemas of the run list, the per-update metrics history and the run event stream. */
import { Type } from 'typebox';
import { TrainingRunStatuses } from '../../db/entities';
import { RunEventKinds } from '../../common/run-events';
import { RUNS_CURSOR_PATTERN } from '../../db/repositories/training-run-repository';
import { SafeId } from './common';

export const DEFAULT_RUNS_LIMIT = 50;
export const MAX_RUNS_LIMIT = 200;
export const DEFAULT_METRICS_LIMIT = 100;
export const MAX_METRICS_LIMIT = 1000;

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const RunListQuery = Type.Object(
  {
    agentId: Type.Optional(SafeId('Only runs of this agent (404 when it is not an agent of the project, as on every agent route)')),
    status: Type.Optional(Type.Enum(TrainingRunStatuses, { description: 'Only runs with this status' })),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'Only runs created at or after this instant (RFC 3339)' })),
    cursor: Type.Optional(
      Type.String({
        pattern: RUNS_CURSOR_PATTERN,
        description: 'nextCursor of the previous page: `<createdAt in µs since the epoch>_<runId>` of its last run; runs before that position are returned',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_RUNS_LIMIT, default: DEFAULT_RUNS_LIMIT })),
  },
  { additionalProperties: false },
);

export const RunSummary = Type.Object({
  runId: Type.String(),
  workflowId: Type.String(),
  agentId: Type.String(),
  status: Type.Enum(TrainingRunStatuses),
  error: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  finishedAt: Nullable(Type.String({ format: 'date-time' })),
  /** Seq of the run's newest event: the Last-Event-ID of a stream that is up to date. */
  lastEventId: Type.Integer(),
  links: Type.Object({ self: Type.String(), metrics: Type.String(), events: Type.String() }),
});

export const RunListBody = Type.Object({
  items: Type.Array(RunSummary),
  nextCursor: Nullable(Type.String({ description: 'Pass as `cursor` for the next page; null on the last page' })),
});

export const MetricsQuery = Type.Object(
  {
    from: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1, default: 1, description: 'First PPO update to return (1-based)' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_METRICS_LIMIT, default: DEFAULT_METRICS_LIMIT })),
  },
  { additionalProperties: false },
);

export const UpdateSampleView = Type.Object({ prompt: Type.String(), response: Type.String(), score: Type.Number() });

export const UpdateView = Type.Object({
  update: Type.Integer(),
  metrics: Type.Record(Type.String(), Type.Number(), { description: 'Every key of docs/metrics.md' }),
  samples: Type.Array(UpdateSampleView, { description: 'A few completions of the update\'s rollout batch with their reward-model scores' }),
  createdAt: Type.String({ format: 'date-time' }),
});

export const MetricsBody = Type.Object({
  runId: Type.String(),
  items: Type.Array(UpdateView),
  nextFrom: Nullable(Type.Integer({ description: 'Pass as `from` for the next page; null when no further update is recorded yet' })),
});

export const EventsQuery = Type.Object(
  {
    follow: Type.Optional(
      Type.Boolean({ default: true, description: 'false: send the events recorded so far and end, instead of following the run to its end' }),
    ),
    after: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, description: 'Resume after this event id; the Last-Event-ID header wins when both are sent' }),
    ),
  },
  { additionalProperties: false },
);

export const EventsHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$', description: 'Id of the last event received: the stream resumes after it' })),
});

export const EventsStream = Type.String({
  description:
    'text/event-stream. Each event: `id:` its per-run sequence number (1, 2, …, no gaps), `event:` its kind (' +
    Object.values(RunEventKinds).join(', ') +
    '), `data:` one JSON line {id, runId, kind, at, data}. Comment lines (`: heartbeat`) keep proxies open. The stream ends after the `end` event.',
});
