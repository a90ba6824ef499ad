/**
 * One training run of one agent, keyed by the API-generated runId (also the workflow id's
 * suffix). A partial unique index allows at most one active (queued | running | paused)
 * run per agent, so two concurrent train requests cannot both start.
 */
import { EntitySchema, type Opt } from '@mikro-orm/core';

/** Run statuses; `as const` so the API schema and the DB share one list. */
export const TrainingRunStatuses = {
  queued: 'queued',
  running: 'running',
  paused: 'paused',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
} as const;
export type TrainingRunStatus = (typeof TrainingRunStatuses)[keyof typeof TrainingRunStatuses];

export const ACTIVE_RUN_STATUSES: readonly TrainingRunStatus[] = ['queued', 'running', 'paused'];
export const FINISHED_RUN_STATUSES: readonly TrainingRunStatus[] = ['completed', 'failed', 'cancelled'];

export function isFinishedStatus(status: TrainingRunStatus): boolean {
  return FINISHED_RUN_STATUSES.includes(status);
}

/**
 * The run status a closed Temporal execution of its workflow stands for (status names as the
 * client's describe() gives them), or null while it is open. Used to bring a row in line with a
 * workflow that closed without updating it (worker lost, terminated from the UI).
 */
export function statusOfClosedWorkflow(workflowStatus: string): TrainingRunStatus | null {
  switch (workflowStatus) {
    case 'COMPLETED':
      return 'completed';
    case 'CANCELLED':
      return 'cancelled';
    case 'FAILED':
    case 'TERMINATED':
    case 'TIMED_OUT':
      return 'failed';
    default:
      return null;
  }
}

export interface TrainingRun {
  id: string;
  workflowId: string;
  agentId: string;
  status: TrainingRunStatus;
  /** The resolved request (preset and overrides) the run was started with. */
  config: Record<string, unknown>;
  error: string | null;
  createdAt: Date & Opt;
  updatedAt: Date & Opt;
  finishedAt: Date | null;
  /** Seq of the run's newest event (run_event); the counter new events take their seq from. */
  eventSeq: number & Opt;
}

export const ACTIVE_RUN_INDEX = 'training_run_one_active_per_agent';

export const TrainingRunSchema = new EntitySchema<TrainingRun>({
  name: 'TrainingRun',
  tableName: 'training_run',
  properties: {
    id: { type: 'string', length: 64, primary: true },
    workflowId: { type: 'string', length: 128 },
    agentId: { type: 'string', length: 64, index: 'training_run_agent_id_index' },
    status: { enum: true, items: Object.values(TrainingRunStatuses), default: 'queued' },
    config: { type: 'json' },
    error: { type: 'text', nullable: true },
    createdAt: { type: 'datetime', length: 6, onCreate: () => new Date() },
    updatedAt: { type: 'datetime', length: 6, onCreate: () => new Date(), onUpdate: () => new Date() },
    finishedAt: { type: 'datetime', length: 6, nullable: true },
    eventSeq: { type: 'integer', default: 0 },
  },
  // The runs list pages newest first by (created_at, id).
  indexes: [{ name: 'training_run_created_at_id_index', properties: ['createdAt', 'id'] }],
  uniques: [
    {
      name: ACTIVE_RUN_INDEX,
      expression: `create unique index "${ACTIVE_RUN_INDEX}" on "training_run" ("agent_id") where "status" in ('queued', 'running', 'paused')`,
    },
  ],
});
