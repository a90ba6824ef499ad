/**
 * Records the event histories the replay tests check the workflow code against:
 * a small completed run (with a setKl signal and one continue-as-new, so both executions
 * of the chain are covered) and a run the quality gate fails.
 *
 *   DATABASE_URL=<maintenance url> TEMPORAL_ADDRESS=<host:port> npx tsx test/histories/record.ts
 *
 * Re-record after an intentional, versioned change to the workflow; commit the JSON files.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { temporal } from '@temporalio/proto';
import type { WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { FeedbackRepository, TrainingRunRepository } from '../../db/repositories';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { trainingWorkflowType, type ConfigPatch, type TrainPolicyInput } from '../../contract/run-contract';
import { setKlSignal } from '../../workflows/messages';
import { createTestDatabase } from '../helpers/database';
import { connectTestEnv, historyToPortableJson, TINY_CONFIG_PATCH, uniqueId, uniqueQueues, withWorkers, type TestQueues } from '../helpers/temporal';

type Env = Awaited<ReturnType<typeof connectTestEnv>>;
type Db = Awaited<ReturnType<typeof createTestDatabase>>;

async function start(env: Env, db: Db, queues: TestQueues, rows: ReturnType<typeof makeSyntheticFeedback>, patch: ConfigPatch): Promise<WorkflowHandleWithFirstExecutionRunId> {
  const runId = uniqueId('run').replace(/-/g, '_');
  const agentId = uniqueId('agent');
  await new FeedbackRepository(db.orm.em.fork()).insertMany(rows.map((r) => ({ ...r, agentId, runId: 'seed' })));
  await new TrainingRunRepository(db.orm.em.fork()).create({ id: runId, workflowId: `train-${runId}`, agentId, config: {} });
  const input: TrainPolicyInput = { runId, agentId, preset: 'quick', seed: 21, configPatch: patch, taskQueues: queues, chunksPerExecution: 1 };
  return env.client.workflow.start(trainingWorkflowType, { workflowId: `train-${runId}`, taskQueue: queues.cpu, args: [input] });
}

/** Every execution of a continue-as-new chain, oldest first. */
async function chainHistories(env: Env, handle: WorkflowHandle, firstRunId: string): Promise<string[]> {
  const out: string[] = [];
  let runId: string | undefined = firstRunId;
  while (runId) {
    const history: temporal.api.history.v1.IHistory = await env.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
    out.push(historyToPortableJson(history));
    const last: temporal.api.history.v1.IHistoryEvent | undefined = history.events?.[history.events.length - 1];
    const next: string | null | undefined = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
    runId = next ?? undefined;
  }
  return out;
}

async function main(): Promise<void> {
  const env = await connectTestEnv();
  const db = await createTestDatabase();
  const root = await mkdtemp(path.join(tmpdir(), 'record-'));
  const store = new LocalArtifactStore(root);
  const queues = uniqueQueues();
  try {
    await withWorkers(env, { orm: db.orm, store, queues }, async () => {
      const completed = await start(env, db, queues, makeSyntheticFeedback(40, new Rng(1)), TINY_CONFIG_PATCH);
      await completed.signal(setKlSignal, { coef: 0.1 });
      await completed.result();
      const executions = await chainHistories(env, completed, completed.firstExecutionRunId);
      for (const [i, json] of executions.entries()) {
        await writeFile(path.join(__dirname, `completed-run-${i + 1}.json`), json);
      }

      const noise = makeSyntheticFeedback(60, new Rng(3), { scoreNoiseOnly: true });
      const gated = await start(env, db, queues, noise, { ...TINY_CONFIG_PATCH, gate: { minValPearson: 0.3 } });
      await gated.result().catch(() => undefined);
      const [gateHistory] = await chainHistories(env, gated, gated.firstExecutionRunId);
      await writeFile(path.join(__dirname, 'gate-failed-run.json'), gateHistory);
      console.info(`recorded ${executions.length} completed-run execution(s) and one gate-failed run into ${__dirname}`);
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
