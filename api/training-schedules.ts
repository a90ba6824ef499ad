/**
 * Retraining schedules (issue 14 item 5) on Temporal's own Schedules: one schedule per agent,
 * id `train-schedule-<agentId>`, whose action starts `scheduledTrainingWorkflow`
 * (workflows/scheduled-training.ts). Overlap policy SKIP: an action due while the previous one
 * (which lasts as long as its training run) is open is dropped and counted by Temporal
 * (`numActionsSkippedOverlap`). Every call carries the API's short RPC deadline.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleExecutionResult, type ScheduleUpdateOptions } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType, type Duration } from '@temporalio/common';
import { SearchAttributeKeys, TaskQueues } from '../common/names';
import {
  SCHEDULED_DECISION_MEMO,
  scheduledTrainingWorkflowType,
  type ScheduledRunDecision,
  type ScheduledTrainingInput,
} from '../contract/schedule-contract';
import { HttpError, NotFoundError } from './errors';
import { withDeadline as withRpcDeadline } from './run-workflows';

/**
 * Schedule calls start, signal or describe the scheduler's own workflow on the server: slower than one
 * workflow RPC, so they get more than the API's 3 s before the answer is a 503 (seen under load in CI).
 */
const SCHEDULE_RPC_DEADLINE_MS = 10_000;
const withDeadline = <T>(client: Client, fn: () => Promise<T>): Promise<T> => withRpcDeadline(client, fn, SCHEDULE_RPC_DEADLINE_MS);

/** When actions are due: a cron expression, or a fixed interval such as "6h" (Temporal's IntervalSpec, epoch-aligned). */
export type ScheduleTiming = { cron: string } | { every: string };

/** Action memo key that keeps the timing as the client gave it (Temporal describes a cron as calendars). */
const TIMING_MEMO = 'scheduleTiming';

/**
 * Actions missed while Temporal was unreachable are taken late only within this window: retraining
 * is a cadence, not a backlog, and one late action catches up everything the missed ones would have.
 */
const CATCHUP_WINDOW = '1h';

const agentIdKey = defineSearchAttributeKey(SearchAttributeKeys.agentId, SearchAttributeType.KEYWORD);

export function scheduleIdOf(agentId: string): string {
  return `train-schedule-${agentId}`;
}

function scheduleNotFound(agentId: string): NotFoundError {
  return new NotFoundError(`agent ${agentId} has no retraining schedule`, 'agentId');
}

/** The schedule's spec, action and policies (everything PUT sets; pause state is kept on update). */
function scheduleOptions(timing: ScheduleTiming, input: ScheduledTrainingInput): Omit<ScheduleUpdateOptions, 'state'> {
  return {
    spec: 'cron' in timing ? { cronExpressions: [timing.cron] } : { intervals: [{ every: timing.every as Duration }] },
    action: {
      type: 'startWorkflow',
      workflowType: scheduledTrainingWorkflowType,
      // Temporal appends the scheduled time, so each action has its own id (and its own run id).
      workflowId: `scheduled-${scheduleIdOf(input.agentId)}`,
      taskQueue: input.run.taskQueues?.cpu ?? TaskQueues.cpu,
      args: [input],
      memo: { [TIMING_MEMO]: timing },
      typedSearchAttributes: [{ key: agentIdKey, value: input.agentId }],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: CATCHUP_WINDOW, pauseOnFailure: false },
  };
}

/**
 * Temporal refused the spec (an unparsable cron or interval): a 400 naming the client's field.
 * The SDK turns the server's `INVALID_ARGUMENT: Invalid schedule spec: ...` into a TypeError
 * carrying the reason (@temporalio/client schedule-client.ts `rethrowGrpcError`).
 */
function invalidTimingOr(err: unknown, timing: ScheduleTiming): unknown {
  if ((err as { name?: string } | null)?.name !== 'TypeError') return err;
  const field = 'cron' in timing ? 'cron' : 'every';
  return new HttpError(400, 'invalid_schedule', `${field}: Temporal refused the schedule spec: ${(err as Error).message}`, field);
}

/** Creates the agent's schedule, or replaces an existing one's spec, action and policies (keeping its pause state). */
export async function putTrainingSchedule(client: Client, timing: ScheduleTiming, input: ScheduledTrainingInput): Promise<'created' | 'updated'> {
  const scheduleId = scheduleIdOf(input.agentId);
  const options = scheduleOptions(timing, input);
  try {
    await withDeadline(client, () => client.schedule.create({ scheduleId, ...options }));
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw invalidTimingOr(err, timing);
  }
  try {
    await withDeadline(client, () => client.schedule.getHandle(scheduleId).update((previous) => ({ ...options, state: { paused: previous.state.paused, note: previous.state.note } })));
  } catch (err) {
    throw invalidTimingOr(err, timing);
  }
  return 'updated';
}

/** Runs `fn` on the agent's schedule; a missing schedule is a 404 naming agentId. */
async function onSchedule<T>(client: Client, agentId: string, fn: (handle: ReturnType<Client['schedule']['getHandle']>) => Promise<T>): Promise<T> {
  try {
    return await withDeadline(client, () => fn(client.schedule.getHandle(scheduleIdOf(agentId))));
  } catch (err) {
    if (err instanceof ScheduleNotFoundError || isGrpcNotFound(err)) throw scheduleNotFound(agentId);
    throw err;
  }
}

/**
 * The SDK maps NOT_FOUND to ScheduleNotFoundError for describe/update/delete, but pause, unpause
 * and trigger of a deleted schedule surface the gRPC NOT_FOUND (code 5) as it is, or wrapped in a
 * ServiceError's cause.
 */
function isGrpcNotFound(err: unknown): boolean {
  const NOT_FOUND = 5;
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  return e?.code === NOT_FOUND || e?.cause?.code === NOT_FOUND;
}

export function deleteTrainingSchedule(client: Client, agentId: string): Promise<void> {
  return onSchedule(client, agentId, (handle) => handle.delete());
}

export function pauseTrainingSchedule(client: Client, agentId: string, paused: boolean): Promise<void> {
  return onSchedule(client, agentId, (handle) => (paused ? handle.pause('paused through the API') : handle.unpause('unpaused through the API')));
}

/**
 * Takes one action now. The SDK's trigger() defaults to ALLOW_ALL; SKIP is passed so a manual
 * trigger, like a due action, never overlaps an open one.
 */
export function triggerTrainingSchedule(client: Client, agentId: string): Promise<void> {
  return onSchedule(client, agentId, (handle) => handle.trigger(ScheduleOverlapPolicy.SKIP));
}

/** One recent action: when it ran, and what its gate decided (null until the decision is recorded). */
export interface ScheduleActionView {
  workflowId: string;
  scheduledAt: string;
  takenAt: string;
  workflowStatus: string | null;
  decision: ScheduledRunDecision | null;
}

export interface TrainingScheduleView {
  scheduleId: string;
  agentId: string;
  timing: ScheduleTiming;
  input: ScheduledTrainingInput;
  paused: boolean;
  note: string | null;
  nextActionTimes: string[];
  actionsTaken: number;
  skippedOverlap: number;
  runningActions: string[];
  recentActions: ScheduleActionView[];
}

/** The agent's schedule with its next action times and its recent actions' decisions; 404 when it has none. */
export async function describeTrainingSchedule(client: Client, agentId: string): Promise<TrainingScheduleView> {
  const description: ScheduleDescription = await onSchedule(client, agentId, (handle) => handle.describe());
  const { action, state, info } = description;
  return {
    scheduleId: description.scheduleId,
    agentId,
    timing: action.memo?.[TIMING_MEMO] as ScheduleTiming,
    input: action.args?.[0] as ScheduledTrainingInput,
    paused: state.paused,
    note: state.note ?? null,
    nextActionTimes: info.nextActionTimes.map((t) => t.toISOString()),
    actionsTaken: info.numActionsTaken,
    skippedOverlap: info.numActionsSkippedOverlap,
    runningActions: info.runningActions.map((a) => a.workflow.workflowId),
    // Newest first; Temporal keeps the last 10.
    recentActions: await Promise.all([...info.recentActions].reverse().map((a) => actionView(client, a))),
  };
}

async function actionView(client: Client, result: ScheduleExecutionResult): Promise<ScheduleActionView> {
  const { workflowId, firstExecutionRunId } = result.action.workflow;
  const base = { workflowId, scheduledAt: result.scheduledAt.toISOString(), takenAt: result.takenAt.toISOString() };
  try {
    const described = await withDeadline(client, () => client.workflow.getHandle(workflowId, firstExecutionRunId).describe());
    return { ...base, workflowStatus: described.status.name, decision: (described.memo?.[SCHEDULED_DECISION_MEMO] as ScheduledRunDecision | undefined) ?? null };
  } catch (err) {
    // Closed long ago and past the namespace's retention: the action happened, its record is gone.
    if ((err as { name?: string } | null)?.name === 'WorkflowNotFoundError') return { ...base, workflowStatus: null, decision: null };
    throw err;
  }
}
