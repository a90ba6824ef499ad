/**
 * Records the event histories test/replay/scheduled-training-replay.test.ts checks the
 * scheduled-retraining workflow against: an action that skipped (too little feedback) and one
 * that started a run as its child and saw it complete (tiny config). The workflow is started
 * directly, as a schedule's action would start it; nothing in it depends on the schedule.
 *
 *   DATABASE_URL=<maintenance url> TEMPORAL_ADDRESS=<host:port> npx tsx test/histories/scheduled/record.ts
 *
 * Re-record after an intentional, versioned change to the workflow; commit the JSON files.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FeedbackRepository } from '../../../db/repositories';
import { Rng } from '../../../ml/rng';
import { makeSyntheticFeedback } from '../../../ml/synthetic-task';
import { LocalArtifactStore } from '../../../storage/artifact-store';
import { scheduledTrainingWorkflowType, type ScheduledTrainingInput } from '../../../contract/schedule-contract';
import { createTestDatabase } from '../../helpers/database';
import { connectTestEnv, historyToPortableJson, TINY_CONFIG_PATCH, uniqueId, uniqueQueues, withWorkers } from '../../helpers/temporal';

async function main(): Promise<void> {
  const env = await connectTestEnv();
  const db = await createTestDatabase();
  const root = await mkdtemp(path.join(tmpdir(), 'record-scheduled-'));
  const store = new LocalArtifactStore(root);
  const queues = uniqueQueues();
  const action = async (name: string, rows: number) => {
    const agentId = uniqueId('agent');
    const feedback = makeSyntheticFeedback(rows, new Rng(1)).map((r) => ({ ...r, agentId, runId: 'seed' }));
    if (rows > 0) await new FeedbackRepository(db.orm.em.fork()).insertMany(feedback);
    const input: ScheduledTrainingInput = { agentId, minNewFeedback: 5, run: { preset: 'quick', seed: 21, configPatch: TINY_CONFIG_PATCH, taskQueues: queues } };
    const handle = await env.client.workflow.start(scheduledTrainingWorkflowType, { workflowId: uniqueId(`scheduled-${name}`), taskQueue: queues.cpu, args: [input] });
    console.info(name, JSON.stringify(await handle.result()));
    await writeFile(path.join(__dirname, `${name}.json`), historyToPortableJson(await handle.fetchHistory()));
  };
  try {
    await withWorkers(env, { orm: db.orm, store, queues }, async () => {
      await action('skipped-action', 3);
      await action('started-action', 40);
    });
  } finally {
    await db.dispose();
    await env.teardown();
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
