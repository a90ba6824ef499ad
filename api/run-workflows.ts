/**
 * The API's side of the training workflow: start it, ask it for progress, signal it, and
 * bring a TrainingRun row in line with a workflow that closed without updating it (worker
 * lost, terminated from the UI). Every call carries a short RPC deadline so a slow or
 * worker-less Temporal cannot hold an HTTP request.
 */
import { defaultPayloadConverter, defineSearchAttributeKey, SearchAttributeType, type Payload } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { RunPhases, SearchAttributeKeys, TaskQueues } from '../common/names';
import { isFinishedStatus, statusOfClosedWorkflow, type TrainingRun } from '../db/entities';
import type { Repositories } from '../db/repositories';
import { trainingWorkflowType, type RunProgress, type TrainPolicyInput, type TrainPolicyResult } from '../contract/run-contract';
import { progressQuery } from '../workflows/messages';
import { withEpochProgress } from './epoch-progress';
import { SPEED_WINDOW_UPDATES, withUpdateProgress } from './update-progress';
import { RunFinishedError } from './errors';
import { workflowIdOf } from '../common/run-ids';
import type { Env } from '../common/env';
import type { AppConfig } from './plugins/app/config';

/** Deadline of one Temporal RPC made while answering an HTTP request. */
const RPC_DEADLINE_MS = 3_000;

/** History length once a worker has completed the first workflow task. */
const FIRST_TASK_DONE_EVENTS = 4;

const agentIdKey = defineSearchAttributeKey(SearchAttributeKeys.agentId, SearchAttributeType.KEYWORD);

// Run ids live in common/run-ids (the scheduled-run activity names runs too); re-exported for the API's callers.
export { newRunId, runIdFromKey, workflowIdOf } from '../common/run-ids';
export { statusOfClosedWorkflow } from '../db/entities';

/** Runs `fn` (Temporal RPCs) under the API's short deadline, or `ms` for slower operations. */
export function withDeadline<T>(client: Client, fn: () => Promise<T>, ms = RPC_DEADLINE_MS): Promise<T> {
  return client.withDeadline(Date.now() + ms, fn);
}

/** The operator's training heartbeat timeout, when set (else the workflow's defaults apply). */
function heartbeatTimeoutOf(env: Env): Pick<TrainPolicyInput, 'trainingHeartbeatTimeoutMs'> {
  const seconds = env.RLHF_TRAINING_HEARTBEAT_TIMEOUT_S;
  return seconds === undefined ? {} : { trainingHeartbeatTimeoutMs: seconds * 1000 };
}

/** Task queues go into the workflow input only when they differ from the shared names (keeps inputs small and stable). */
function nonDefaultQueues(queues: { cpu: string; gpu: string }): Pick<TrainPolicyInput, 'taskQueues'> {
  return queues.cpu === TaskQueues.cpu && queues.gpu === TaskQueues.gpu ? {} : { taskQueues: { ...queues } };
}

/**
 * What the API adds to every run's input from its operator settings: non-default task queues and
 * the training heartbeat timeout. train_policy and the retraining schedules both use it.
 */
export function operatorRunOptions(config: Pick<AppConfig, 'env' | 'taskQueues'>): Pick<TrainPolicyInput, 'taskQueues' | 'trainingHeartbeatTimeoutMs'> {
  return { ...nonDefaultQueues(config.taskQueues), ...heartbeatTimeoutOf(config.env) };
}

export async function startTrainingWorkflow(client: Client, input: TrainPolicyInput): Promise<string> {
  const handle = await withDeadline(client, () =>
    client.workflow.start(trainingWorkflowType, {
      taskQueue: input.taskQueues?.cpu ?? TaskQueues.cpu,
      workflowId: workflowIdOf(input.runId),
      args: [input],
      typedSearchAttributes: [{ key: agentIdKey, value: input.agentId }],
    }),
  );
  return handle.workflowId;
}

/**
 * Starts the run's workflow; one already started under this run id (by an earlier attempt of the
 * same idempotent request whose transaction rolled back) counts as started.
 */
export async function startTrainingWorkflowOnce(client: Client, input: TrainPolicyInput): Promise<string> {
  try {
    return await startTrainingWorkflow(client, input);
  } catch (err) {
    if ((err as { name?: string } | null)?.name === 'WorkflowExecutionAlreadyStartedError') return workflowIdOf(input.runId);
    throw err;
  }
}

function isNotFound(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'WorkflowNotFoundError';
}

export interface RunObservation {
  run: TrainingRun;
  workflowStatus: string | null;
  progress: RunProgress | null;
  progressUnavailable: string | null;
  result: TrainPolicyResult | null;
}

/** Reads the workflow's state and, if it closed behind the DB's back, records that on the row. */
export async function observeRun(client: Client, repos: Repositories, run: TrainingRun): Promise<RunObservation> {
  const handle = client.workflow.getHandle(run.workflowId);
  let workflowStatus: string | null = null;
  let historyLength = 0;
  let heartbeats: unknown[] = [];
  try {
    const description = await withDeadline(client, () => handle.describe());
    workflowStatus = description.status.name;
    historyLength = description.historyLength;
    heartbeats = pendingHeartbeatDetails(description.raw.pendingActivities ?? []);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    return { run, workflowStatus: null, progress: null, progressUnavailable: 'workflow not found in Temporal', result: null };
  }
  const closedAs = statusOfClosedWorkflow(workflowStatus);
  if (closedAs && !isFinishedStatus(run.status)) {
    run = await repos.trainingRuns.setStatus(run.id, closedAs, closedAs === 'completed' ? null : `workflow ${workflowStatus.toLowerCase()}`);
  }
  // The workflow marks its row completed just before it returns, so the row can say completed while the
  // execution is still closing: then wait (within the RPC deadline) for the result a moment away.
  const result =
    workflowStatus === 'COMPLETED' ? await resultOf(client, handle) : run.status === 'completed' ? await resultOf(client, handle).catch(() => null) : null;
  // Until a worker completes the first workflow task (events: started, task scheduled,
  // started, completed) a query can only time out, so do not ask.
  if (historyLength < FIRST_TASK_DONE_EVENTS) {
    return { run, workflowStatus, progress: null, progressUnavailable: 'no worker has picked up the run yet', result };
  }
  const { progress, progressUnavailable } = await progressOf(client, handle);
  const recent = progress?.phase === RunPhases.ppo ? await repos.runEvents.latest(run.id, SPEED_WINDOW_UPDATES) : [];
  return { run, workflowStatus, progress: progress && withUpdateProgress(withEpochProgress(progress, heartbeats), recent), progressUnavailable, result };
}

/** Decoded latest heartbeat details of the workflow's running activities (undecodable ones are skipped). */
function pendingHeartbeatDetails(pending: ReadonlyArray<{ heartbeatDetails?: { payloads?: unknown[] | null } | null }>): unknown[] {
  return pending.flatMap((activity) =>
    (activity.heartbeatDetails?.payloads ?? []).flatMap((payload) => {
      try {
        return [defaultPayloadConverter.fromPayload(payload as Payload)];
      } catch {
        return [];
      }
    }),
  );
}

async function resultOf(client: Client, handle: WorkflowHandle): Promise<TrainPolicyResult | null> {
  return (await withDeadline(client, () => handle.result())) as TrainPolicyResult;
}

/** The progress query's answer; a worker-less or closed run has none, and that is not an error. */
async function progressOf(client: Client, handle: WorkflowHandle): Promise<{ progress: RunProgress | null; progressUnavailable: string | null }> {
  try {
    return { progress: await withDeadline(client, () => handle.query(progressQuery)), progressUnavailable: null };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { progress: null, progressUnavailable: `progress query failed: ${message}` };
  }
}

/**
 * Runs a control action (signal or cancel) on an unfinished run. A finished row, or a
 * workflow Temporal reports as closed, answers RunFinishedError (409).
 */
export async function controlRun(
  client: Client,
  repos: Repositories,
  run: TrainingRun,
  action: (handle: WorkflowHandle) => Promise<void>,
): Promise<void> {
  if (isFinishedStatus(run.status)) throw new RunFinishedError(run.id, run.status);
  const handle = client.workflow.getHandle(run.workflowId);
  try {
    await withDeadline(client, () => action(handle));
  } catch (err) {
    if (!isNotFound(err)) throw err;
    // Closed in Temporal but not yet in the DB: record it, then refuse.
    const observed = await observeRun(client, repos, run);
    throw new RunFinishedError(run.id, observed.workflowStatus?.toLowerCase() ?? 'closed');
  }
}
