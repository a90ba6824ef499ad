/**
 * The scheduled-retraining gate (activities/scheduled-run.ts `claimScheduledRun`) against a real
 * Postgres database: a retried attempt finds its own run, an active run or too little feedback
 * is a recorded skip, and two actions racing start one run between them (the one-active-run
 * index decides). The end-to-end schedule is test/workflows/scheduled-training.test.ts.
 */
import { createDataActivities } from '../../activities';
import { runIdOfScheduledAction, workflowIdOf } from '../../common/run-ids';
import { FeedbackRepository } from '../../db/repositories';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { runInActivityEnv, silentActivityLog, uniqueId } from '../helpers/temporal';

let db: TestDatabase;
let claim: ReturnType<typeof createDataActivities>['claimScheduledRun'];

beforeAll(async () => {
  db = await createTestDatabase();
  // The gate reads Postgres only; the store is never touched.
  claim = createDataActivities({ orm: db.orm, store: new LocalArtifactStore('/nonexistent'), log: silentActivityLog }).claimScheduledRun;
});
afterAll(async () => {
  await db?.dispose();
});

async function agentWith(rows: number): Promise<string> {
  const agentId = uniqueId('gate');
  const items = Array.from({ length: rows }, (_, i) => ({ agentId, runId: 'rt', prompt: `q${i}`, response: `a${i}`, score: i % 3 }));
  await new FeedbackRepository(db.orm.em.fork()).insertMany(items);
  return agentId;
}

async function runRows(agentId: string): Promise<{ id: string; status: string }[]> {
  return db.orm.em.fork().getConnection().execute('select id, status from training_run where agent_id = ? order by created_at', [agentId]);
}

const input = (agentId: string, actionId: string, minNewFeedback = 5) => ({ actionId, agentId, minNewFeedback, config: { preset: 'quick', trigger: 'schedule' } });

it('starts a run named after the action; a retried attempt gets that same run, not a skip or a second run', async () => {
  const agentId = await agentWith(12);
  const first = await runInActivityEnv(claim, input(agentId, 'wf-a/run-1'));
  const runId = runIdOfScheduledAction('wf-a/run-1');
  expect(first).toEqual({ outcome: 'started', runId, workflowId: workflowIdOf(runId), feedbackCount: 12, newFeedback: 12, sinceVersion: null });
  const retried = await runInActivityEnv(claim, input(agentId, 'wf-a/run-1'));
  expect(retried).toMatchObject({ outcome: 'started', runId });
  expect(await runRows(agentId)).toEqual([{ id: runId, status: 'queued' }]);

  // Another action while that run is active skips, naming it.
  expect(await runInActivityEnv(claim, input(agentId, 'wf-a/run-2'))).toMatchObject({ outcome: 'skipped', reason: 'run_active', activeRunId: runId });
  expect(await runRows(agentId)).toHaveLength(1);
});

it('skips when the agent has fewer rows than any run accepts, whatever minNewFeedback says', async () => {
  const agentId = await agentWith(3);
  expect(await runInActivityEnv(claim, input(agentId, 'wf-b/run-1', 1))).toEqual({
    outcome: 'skipped',
    reason: 'too_little_feedback',
    message: `agent ${agentId} has 3 feedback rows; a run needs at least 10`,
    feedbackCount: 3,
    newFeedback: 3,
    sinceVersion: null,
  });
  expect(await runRows(agentId)).toEqual([]);
});

it('two actions racing for one agent start exactly one run; the other skips as run_active', async () => {
  const agentId = await agentWith(12);
  const decisions = await Promise.all(['wf-c/run-1', 'wf-d/run-1'].map((actionId) => runInActivityEnv(claim, input(agentId, actionId))));
  expect(decisions.map((d) => d.outcome).sort()).toEqual(['skipped', 'started']);
  const started = decisions.find((d) => d.outcome === 'started');
  expect(decisions.find((d) => d.outcome === 'skipped')).toMatchObject({ reason: 'run_active' });
  expect(await runRows(agentId)).toEqual([{ id: started?.outcome === 'started' ? started.runId : '', status: 'queued' }]);
});
