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
import { ActiveRunExistsError, RunNotFoundError } from '../errors';

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

  async findActive(agentId: string): Promise<TrainingRun | null> {
    return this.em.findOne(TrainingRunSchema, { agentId, status: { $in: [...ACTIVE_RUN_STATUSES] } }, { refresh: true });
  }

  /**
   * Moves a run to `status` (recording `error`, and finishedAt for a finished status) in one
   * conditional UPDATE. A finished run keeps its status: the call then returns the row
   * unchanged, so a retried or late writer cannot resurrect or relabel a finished run.
   * Throws RunNotFoundError for an unknown id.
   */
  async setStatus(runId: string, status: TrainingRunStatus, error?: string | null): Promise<TrainingRun> {
    const now = new Date();
    await this.em.nativeUpdate(
      TrainingRunSchema,
      { id: runId, status: { $nin: [...FINISHED_RUN_STATUSES] } },
      {
        status,
        updatedAt: now,
        ...(error !== undefined ? { error } : {}),
        ...(isFinishedStatus(status) ? { finishedAt: now } : {}),
      },
    );
    const row = await this.get(runId);
    if (!row) throw new RunNotFoundError(runId);
    return row;
  }
}
