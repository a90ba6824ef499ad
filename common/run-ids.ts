/**
 * Training-run ids and their workflow ids, defined once: the API's train route, the scheduled
 * retraining activity (activities/scheduled-run.ts) and the chaos tests all name runs this way.
 * Every run id is `run_` + 20 url-safe characters, which matches SAFE_ID_PATTERN (common/ids.ts).
 * Node-only (node:crypto): workflow code never imports this module; it gets ids from activities.
 */
import { createHash, randomBytes } from 'node:crypto';

/** `run_` + 20 url-safe characters (15 random bytes, base64url). */
export function newRunId(): string {
  return `run_${randomBytes(15).toString('base64url')}`;
}

/** `run_` + the first 20 base64url characters of the sha256 of the parts: the same parts always name the same run. */
function derivedRunId(parts: readonly string[]): string {
  return `run_${createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 20)}`;
}

/**
 * The run id of an Idempotency-Key's scope (project, key, request hash): the same request under
 * the same key always names the same run.
 */
export function runIdFromKey(projectId: string, key: string, requestHash: string): string {
  return derivedRunId([projectId, key, requestHash]);
}

/**
 * The run id of one scheduled action (issue 14 item 5), from the action's id (its workflow id and
 * first execution's run id: workflows/scheduled-training.ts). A retried activity attempt whose
 * first attempt committed the row finds that row instead of starting a second run.
 */
export function runIdOfScheduledAction(actionId: string): string {
  return derivedRunId(['schedule', actionId]);
}

/** The training workflow's id for a run. */
export function workflowIdOf(runId: string): string {
  return `train-${runId}`;
}
