/**
 * The scheduled-retraining workflow's public contract (issue 14 item 5): its input, the
 * decision its gate activity makes, and where that decision is recorded. A Temporal Schedule
 * per agent (api/training-schedules.ts) starts `scheduledTrainingWorkflow` on each action; the
 * workflow either starts a training run as a child or records why it skipped. Type-only and
 * constants: the API imports this module without pulling in workflow code.
 */
import type { TrainPolicyInput } from './run-contract';

/** Workflow type name, as registered by the CPU worker. */
export const scheduledTrainingWorkflowType = 'scheduledTrainingWorkflow';

/**
 * The knobs of the runs a schedule starts: train_policy's, plus what the API adds from its
 * operator settings (task queues, heartbeat timeout). Fixed when the schedule is created or
 * updated, so every action of one schedule version trains the same way.
 */
export type ScheduledRunSpec = Pick<
  TrainPolicyInput,
  'preset' | 'maxSteps' | 'learningRate' | 'seed' | 'reuseRewardModel' | 'taskQueues' | 'trainingHeartbeatTimeoutMs' | 'configPatch'
>;

/** What each scheduled action starts with. */
export interface ScheduledTrainingInput {
  agentId: string;
  /** Fewest feedback rows that must have arrived since the agent's newest policy version for a run to start. */
  minNewFeedback: number;
  run: ScheduledRunSpec;
}

/** Why an action started no run. */
export const ScheduleSkipReasons = {
  /** Fewer than minNewFeedback rows arrived since the newest policy version. */
  tooLittleNewFeedback: 'too_little_new_feedback',
  /** The agent has fewer rows than any run accepts (the workers' minimum). */
  tooLittleFeedback: 'too_little_feedback',
  /** Another run of the agent is queued, running or paused (one active run per agent). */
  runActive: 'run_active',
} as const;
export type ScheduleSkipReason = (typeof ScheduleSkipReasons)[keyof typeof ScheduleSkipReasons];

/** What the gate counted; null fields were not reached (an active run is checked first). */
export interface FeedbackCounts {
  /** The agent's feedback rows now. */
  feedbackCount: number | null;
  /** Rows since the newest policy version (all rows when there is none). */
  newFeedback: number | null;
  /** The newest policy version the count is relative to, e.g. "v3"; null when the agent has none. */
  sinceVersion: string | null;
}

/** The gate's decision (activities/scheduled-run.ts `claimScheduledRun`). */
export type ScheduledRunDecision =
  | ({ outcome: 'started'; runId: string; workflowId: string } & FeedbackCounts)
  | ({ outcome: 'skipped'; reason: ScheduleSkipReason; message: string; activeRunId?: string } & FeedbackCounts);

/** How a started run ended, as the scheduled workflow saw its child close. */
export type ScheduledRunEnd = 'completed' | 'failed' | 'cancelled';

/** The workflow's result: the decision, and for a started run how it ended. */
export type ScheduledTrainingResult = ScheduledRunDecision & { runEnded?: ScheduledRunEnd };

/**
 * Memo key under which each action's workflow records its decision as soon as it is made, so
 * GET /api/policies/:agentId/schedule (and the Temporal UI) shows it while the run trains.
 */
export const SCHEDULED_DECISION_MEMO = 'scheduledDecision';
