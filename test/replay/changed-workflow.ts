/**
 * A deliberately incompatible edit of the training workflow, for the replay test: it loads
 * the feedback before marking the run as running, so its first activity differs from what
 * every recorded history scheduled. Replaying a recorded run against it must raise
 * DeterminismViolationError: proof that the replay test can catch such an edit.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../../activities';
import type { TrainPolicyInput } from '../../contract/run-contract';

const { loadFeedback, setRunStatus } = proxyActivities<ReturnType<typeof createActivities>>({ startToCloseTimeout: '1m' });

export async function trainPolicyWorkflow(input: TrainPolicyInput): Promise<void> {
  await loadFeedback({ runId: input.runId, agentId: input.agentId });
  await setRunStatus({ runId: input.runId, status: 'running' });
}
