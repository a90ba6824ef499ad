/**
 * One action of an agent's retraining schedule (issue 14 item 5). A Temporal Schedule per agent
 * (api/training-schedules.ts, overlap policy SKIP) starts this workflow; it asks the gate
 * activity whether to train, records the decision in its memo, and either returns the skip or
 * runs the training workflow as a child under the run's usual id and waits for it. Because the
 * action stays open while its run trains, the schedule's SKIP policy drops any action due
 * meanwhile, and the gate's active-run check covers runs started through train_policy.
 */
import {
  ChildWorkflowFailure,
  ParentClosePolicy,
  executeChild,
  isCancellation,
  proxyActivities,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import type { createActivities } from '../activities';
import { SearchAttributeKeys, TaskQueues } from '../common/names';
import { trainingWorkflowType, type TrainPolicyInput } from '../contract/run-contract';
import { SCHEDULED_DECISION_MEMO, type ScheduledRunEnd, type ScheduledTrainingInput, type ScheduledTrainingResult } from '../contract/schedule-contract';

type Activities = ReturnType<typeof createActivities>;

const agentIdKey = defineSearchAttributeKey(SearchAttributeKeys.agentId, 'KEYWORD');

export async function scheduledTrainingWorkflow(input: ScheduledTrainingInput): Promise<ScheduledTrainingResult> {
  const cpuQueue = input.run.taskQueues?.cpu ?? TaskQueues.cpu;
  const { claimScheduledRun } = proxyActivities<Activities>({
    taskQueue: cpuQueue,
    startToCloseTimeout: '1m',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10 },
  });
  const info = workflowInfo();
  const decision = await claimScheduledRun({
    // Temporal names an action by its schedule and time to the second, so two triggers in one
    // second can share a workflow id (once the first closed); the first execution's run id cannot.
    actionId: `${info.workflowId}/${info.firstExecutionRunId}`,
    agentId: input.agentId,
    minNewFeedback: input.minNewFeedback,
    config: runRowConfig(input),
  });
  upsertMemo({ [SCHEDULED_DECISION_MEMO]: decision });
  if (decision.outcome === 'skipped') return decision;

  const run: TrainPolicyInput = { ...input.run, runId: decision.runId, agentId: input.agentId };
  return { ...decision, runEnded: await trainAsChild(run, decision.workflowId, cpuQueue) };
}

/** The TrainingRun row's config: the request as train_policy records it, marked as scheduled. */
function runRowConfig(input: ScheduledTrainingInput): Record<string, unknown> {
  const { preset, maxSteps, learningRate, seed, reuseRewardModel } = input.run;
  return { preset, maxSteps, learningRate, seed, reuseRewardModel, trigger: 'schedule', scheduledBy: workflowInfo().workflowId };
}

/**
 * Runs the training workflow under the run's id and reports how it ended; its own failure is on
 * its row, so this action completes either way. ABANDON: terminating or resetting an action
 * leaves the run training (a cancel of the action still cancels the run: the child is cancelled
 * with its parent's scope).
 */
async function trainAsChild(run: TrainPolicyInput, workflowId: string, taskQueue: string): Promise<ScheduledRunEnd> {
  try {
    await executeChild(trainingWorkflowType, {
      workflowId,
      taskQueue,
      args: [run],
      typedSearchAttributes: [{ key: agentIdKey, value: run.agentId }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
    return 'completed';
  } catch (err) {
    if (!(err instanceof ChildWorkflowFailure)) throw err;
    return isCancellation(err.cause) ? 'cancelled' : 'failed';
  }
}
