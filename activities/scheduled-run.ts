/**
 * The gate of a scheduled retraining action (issue 14 item 5), on the CPU queue: decide from
 * Postgres whether this action starts a run, and if so create its TrainingRun row exactly as
 * train_policy does (same id and workflow-id conventions, same one-active-run index); the
 * scheduled workflow then starts the training workflow under that id.
 */
import { Context, log as temporalLog } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { statusOfClosedWorkflow, type TrainingRun } from '../db/entities';
import { createRepositories, type Repositories } from '../db/repositories';
import { runIdOfScheduledAction, workflowIdOf } from '../common/run-ids';
import { ScheduleSkipReasons, type FeedbackCounts, type ScheduledRunDecision, type ScheduleSkipReason } from '../contract/schedule-contract';
import { ACTIVITY_DEFAULTS, type ActivityDeps } from './deps';

export interface ClaimScheduledRunInput {
  /** The action's workflow id and first execution's run id (unique per action; a retry of this activity passes the same). */
  actionId: string;
  agentId: string;
  minNewFeedback: number;
  /** The TrainingRun row's `config`: the run's request, as train_policy records it. */
  config: Record<string, unknown>;
}

function skipped(reason: ScheduleSkipReason, message: string, counts: FeedbackCounts, activeRunId?: string): ScheduledRunDecision {
  return { outcome: 'skipped', reason, message, ...counts, ...(activeRunId === undefined ? {} : { activeRunId }) };
}

export function createScheduledRunActivities(deps: ActivityDeps) {
  const { orm } = deps;
  const log = deps.log ?? temporalLog;
  const minRows = deps.minFeedbackRows ?? ACTIVITY_DEFAULTS.minFeedbackRows;
  /** Logs the decision (the workflow records it in its memo and result). */
  const decided = (input: ClaimScheduledRunInput, decision: ScheduledRunDecision): ScheduledRunDecision => {
    log.info(decision.outcome === 'started' ? 'scheduled run started' : 'scheduled run skipped', { agentId: input.agentId, actionId: input.actionId, ...decision });
    return decision;
  };

  return {
    /**
     * Starts (records) a run when the agent has no active run and at least `minNewFeedback` rows
     * arrived since its newest policy version; otherwise says why not. New rows are counted as
     * (rows now − the newest version's feedbackCount): feedback is append-only (no route deletes
     * a row) and a version records how many rows its run trained on, so the difference is the
     * rows that run never saw. The row is created last, so the partial unique index on active
     * runs decides a race with train_policy; losing it is a skip, not an error.
     */
    async claimScheduledRun(input: ClaimScheduledRunInput): Promise<ScheduledRunDecision> {
      const repos = createRepositories(orm.em.fork());
      const runId = runIdOfScheduledAction(input.actionId);
      const workflowId = workflowIdOf(runId);
      const notCounted: FeedbackCounts = { feedbackCount: null, newFeedback: null, sinceVersion: null };

      // An earlier attempt of this activity committed the row (and its answer was lost): the same run.
      if (await repos.trainingRuns.get(runId)) return { outcome: 'started', runId, workflowId, ...notCounted };

      const active = await stillActive(repos, await repos.trainingRuns.findActive(input.agentId));
      if (active) return decided(input, skipped(ScheduleSkipReasons.runActive, `run ${active.id} of agent ${input.agentId} is ${active.status}`, notCounted, active.id));

      const feedbackCount = await repos.feedback.count(input.agentId);
      const latest = await repos.policyVersions.latest(input.agentId);
      const counts: FeedbackCounts = {
        feedbackCount,
        newFeedback: Math.max(0, feedbackCount - (latest?.feedbackCount ?? 0)),
        sinceVersion: latest?.version ?? null,
      };
      if (feedbackCount < minRows) {
        return decided(input, skipped(ScheduleSkipReasons.tooLittleFeedback, `agent ${input.agentId} has ${feedbackCount} feedback rows; a run needs at least ${minRows}`, counts));
      }
      if ((counts.newFeedback ?? 0) < input.minNewFeedback) {
        const since = latest ? `since version ${latest.version}` : 'in all';
        return decided(input, skipped(ScheduleSkipReasons.tooLittleNewFeedback, `${counts.newFeedback} new feedback rows ${since}; the schedule needs minNewFeedback ${input.minNewFeedback}`, counts));
      }

      try {
        await repos.trainingRuns.create({ id: runId, workflowId, agentId: input.agentId, config: input.config });
      } catch (err) {
        const lost = err as { name?: string; activeRunId?: string | null };
        if (lost?.name !== 'ActiveRunExistsError') throw err;
        const message = `another run of agent ${input.agentId} became active first${lost.activeRunId ? ` (${lost.activeRunId})` : ''}`;
        return decided(input, skipped(ScheduleSkipReasons.runActive, message, counts, lost.activeRunId ?? undefined));
      }
      return decided(input, { outcome: 'started', runId, workflowId, ...counts });
    },
  };

}

/**
 * The agent's active row, or null when there is none or its workflow closed without updating it
 * (worker lost, terminated from the UI): such a row is brought in line first, as train_policy and
 * GET /api/runs/:runId do (api/run-workflows.ts `observeRun`), so a dead run cannot block the
 * schedule forever. Without a client in the activity context (a MockActivityEnvironment created
 * without one) the row is taken as it is.
 */
async function stillActive(repos: Repositories, run: TrainingRun | null): Promise<TrainingRun | null> {
  const client = workerClient();
  if (!run || !client) return run;
  let workflowStatus: string;
  try {
    workflowStatus = (await client.workflow.getHandle(run.workflowId).describe()).status.name;
  } catch (err) {
    // No such workflow: leave the row as observeRun does (its start failed and train_policy recorded that).
    if ((err as { name?: string } | null)?.name === 'WorkflowNotFoundError') return run;
    throw err;
  }
  const closedAs = statusOfClosedWorkflow(workflowStatus);
  if (!closedAs) return run;
  await repos.trainingRuns.setStatus(run.id, closedAs, closedAs === 'completed' ? null : `workflow ${workflowStatus.toLowerCase()}`);
  return null;
}

/** The worker's client from the activity context (@temporalio/activity `Context.client`), or null when it has none. */
function workerClient(): Client | null {
  try {
    return Context.current().client;
  } catch (err) {
    if ((err as { name?: string } | null)?.name === 'IllegalStateError') return null;
    throw err;
  }
}
