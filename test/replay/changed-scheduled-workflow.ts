/**
 * A deliberately incompatible edit of the scheduled-retraining workflow, for the replay test: it
 * counts feedback with a different activity than the gate every recorded action scheduled.
 * Replaying a recorded action against it must raise DeterminismViolationError.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../../activities';
import type { ScheduledTrainingInput } from '../../contract/schedule-contract';

const { loadFeedback } = proxyActivities<ReturnType<typeof createActivities>>({ startToCloseTimeout: '1m' });

export async function scheduledTrainingWorkflow(input: ScheduledTrainingInput): Promise<void> {
  await loadFeedback({ runId: workflowInfo().workflowId, agentId: input.agentId });
}
