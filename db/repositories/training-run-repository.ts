/**
 * Training runs. At most one active (queued | running | paused) run per agent, enforced by a
 * partial unique index so that two concurrent creates cannot both succeed. Finished statuses
 * (completed | failed | cancelled) are terminal.
 */
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql';
import {
  ACTIVE_RUN_STATUSES,
  FINISHED_RUN_STATUSES,
  TrainingRunSchema,
  TrainingRunStatuses,
  isFinishedStatus,
  type TrainingRun,
  type TrainingRunStatus,
} from '../entities';
import { RunEventKinds } from '../../common/run-events';
import { ActiveRunExistsError, InvalidCursorError, RunNotFoundError } from '../errors';
import { RunEventRepository } from './run-event-repository';

export interface NewTrainingRun {
  id: string;
  workflowId: string;
  agentId: string;
  config: Record<string, unknown>;
}

export class TrainingRunRepository {
  constructor(private readonly em: EntityManager) {}

  /** Inserts a queued run; throws ActiveRunExistsError when the agent already has an active one. */
  async create(input: NewTrainingRun): Promise<TrainingRun> {
    const row = this.em.create(TrainingRunSchema, { ...input, status: 'queued', error: null, finishedAt: null });
    try {
      await this.em.flush();
    } catch (err) {
      if (err instanceof UniqueConstraintViolationException) {
        // Inside a transaction the failed INSERT aborted it: no lookup is possible until it rolls back.
        if (this.em.isInTransaction()) throw new ActiveRunExistsError(input.agentId, null);
        this.em.clear();
        const active = await this.findActive(input.agentId);
        throw new ActiveRunExistsError(input.agentId, active?.id ?? null);
      }
      throw err;
    }
    return row;
  }

  /** How many runs are in each status, over every project (Prometheus' rlhf_runs); absent statuses are 0. */
  async countByStatus(): Promise<Record<TrainingRunStatus, number>> {
    const rows = await this.em.getConnection().execute<Array<{ status: TrainingRunStatus; n: number }>>('select status, count(*)::int as n from training_run group by status');
    const counts = Object.fromEntries(Object.values(TrainingRunStatuses).map((s) => [s, 0])) as Record<TrainingRunStatus, number>;
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  async get(runId: string): Promise<TrainingRun | null> {
    return this.em.findOne(TrainingRunSchema, { id: runId }, { refresh: true });
  }

  /** Ids of every run of the agent, whatever its status. */
  async idsOfAgent(agentId: string): Promise<string[]> {
    const rows = await this.em.find(TrainingRunSchema, { agentId }, { fields: ['id'], orderBy: { id: 'asc' } });
    return rows.map((r) => r.id);
  }

  async findActive(agentId: string): Promise<TrainingRun | null> {
    return this.em.findOne(TrainingRunSchema, { agentId, status: { $in: [...ACTIVE_RUN_STATUSES] } }, { refresh: true });
  }

  /**
   * Moves a run to `status` (recording `error`, and finishedAt for a finished status) in one
   * conditional UPDATE, and records the change on the run's event stream (a `status` event, and
   * the `end` event for a finished status) in the same transaction. A finished run keeps its
   * status: the call then returns the row unchanged, so a retried or late writer cannot
   * resurrect or relabel a finished run. Throws RunNotFoundError for an unknown id.
   */
  async setStatus(runId: string, status: TrainingRunStatus, error?: string | null): Promise<TrainingRun> {
    const now = new Date();
    await this.em.transactional(async (tx) => {
      const changed = await tx.nativeUpdate(
        TrainingRunSchema,
        { id: runId, status: { $nin: [...FINISHED_RUN_STATUSES] } },
        {
          status,
          updatedAt: now,
          ...(error !== undefined ? { error } : {}),
          ...(isFinishedStatus(status) ? { finishedAt: now } : {}),
        },
      );
      if (changed === 0) return;
      const events = new RunEventRepository(tx);
      const data = { status, error: error ?? null };
      await events.append(runId, { kind: RunEventKinds.status, data });
      if (isFinishedStatus(status)) await events.append(runId, { kind: RunEventKinds.end, data, dedupKey: RunEventKinds.end });
    });
    const row = await this.get(runId);
    if (!row) throw new RunNotFoundError(runId);
    return row;
  }

  /**
   * A page of the project's runs, newest first, optionally of one agent, one status, or created
   * at or after `since`. `cursor` is the previous page's nextCursor (RUNS_CURSOR_PATTERN): the
   * position (created_at in µs since the epoch, runId) of its last run. Every such value is a
   * valid position, so a schema-valid cursor is never refused, and the project filter applies
   * whatever it names.
   */
  async page(projectId: string, filter: RunFilter, cursor: string | null, limit: number): Promise<RunPage> {
    const where: string[] = [];
    const params: unknown[] = [];
    const and = (condition: string, ...values: unknown[]) => {
      where.push(condition);
      params.push(...values);
    };
    and('a.project_id = ?', projectId);
    if (filter.agentId !== undefined) and('r.agent_id = ?', filter.agentId);
    if (filter.status !== undefined) and('r.status = ?', filter.status);
    if (filter.since !== undefined) and('r.created_at >= ?', filter.since);
    if (cursor !== null) {
      const { micros, id } = decodeRunsCursor(cursor);
      // Exact µs arithmetic (no float seconds), so the keyset boundary is the row's own timestamp.
      and("(r.created_at, r.id) < (timestamptz 'epoch' + ?::bigint * interval '1 microsecond', ?)", micros, id);
    }
    const rows = await this.em.execute<{ id: string; micros: string }[]>(
      `select r.id, (extract(epoch from r.created_at) * 1000000)::bigint::text as micros from training_run r join agent a on a.id = r.agent_id ` +
        `where ${where.join(' and ')} order by r.created_at desc, r.id desc limit ?`,
      [...params, limit + 1],
    );
    const pageRows = rows.slice(0, limit);
    const found = pageRows.length ? await this.em.find(TrainingRunSchema, { id: { $in: pageRows.map((r) => r.id) } }, { refresh: true }) : [];
    const byId = new Map(found.map((r) => [r.id, r]));
    const items = pageRows.flatMap((r) => byId.get(r.id) ?? []);
    const last = pageRows[pageRows.length - 1];
    return { items, nextCursor: rows.length > limit ? `${last.micros}_${last.id}` : null };
  }
}

/** `<created_at in µs since the epoch>_<runId>` of the previous page's last run. */
export const RUNS_CURSOR_PATTERN = '^[0-9]{1,17}_[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';
const RUNS_CURSOR_RE = new RegExp(RUNS_CURSOR_PATTERN);

function decodeRunsCursor(cursor: string): { micros: string; id: string } {
  if (!RUNS_CURSOR_RE.test(cursor)) throw new InvalidCursorError(cursor);
  const at = cursor.indexOf('_');
  return { micros: cursor.slice(0, at), id: cursor.slice(at + 1) };
}

export interface RunFilter {
  agentId?: string;
  status?: TrainingRunStatus;
  since?: Date;
}

export interface RunPage {
  items: TrainingRun[];
  /** The position of the page's last run (RUNS_CURSOR_PATTERN); null on the last page. */
  nextCursor: string | null;
}
