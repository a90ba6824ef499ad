/**
 * Fault test 4 (issue 5): the Temporal dev server is stopped in the middle of PPO and started
 * again on the same SQLite file; the workers (real processes, never restarted) reconnect and
 * the run completes with every update trained and one saved version.
 */
import type { TrainPolicyResult } from '../../contract/run-contract';
import { PolicyVersionRepository } from '../../db/repositories';
import { sleep } from '../helpers/processes';
import { ChaosCluster, tinyPatch, until } from './cluster';
import { metricsMtimes, savedHistory } from './run-artifacts';

const TOTAL_UPDATES = 6;
/** How long the server stays down: shorter than the 10 s training heartbeat timeout (workflows/training-run.ts), longer than a PPO update. */
const OUTAGE_MS = 5_000;

let cluster: ChaosCluster;

beforeAll(async () => {
  cluster = await ChaosCluster.start({ name: 'chaos-temporal-restart' });
  await cluster.startWorker('cpu');
  await cluster.startWorker('gpu');
}, 120_000);

afterAll(async () => {
  await cluster?.dispose();
});

it('(4) Temporal dev server stopped mid-PPO and restarted on the same database file: the run completes', async () => {
  const agentId = await cluster.seedAgent(4);
  const run = await cluster.startRun(agentId, tinyPatch(TOTAL_UPDATES, 2));
  // Stopped WHEN: after the first PPO update, with chunks still to schedule (each a workflow task).
  await until(async () => ((await cluster.metricsWritten(run.runId)).includes(1) ? true : undefined), 'the first PPO update');
  await cluster.temporal.stop();
  const stoppedAtMs = Date.now();
  const doneAtStop = Math.max(...(await cluster.metricsWritten(run.runId)));
  await sleep(OUTAGE_MS);
  await cluster.temporal.restart();
  const restartedAtMs = Date.now();

  const result = (await run.handle.result()) as TrainPolicyResult;
  // CHECKED: the run finished with all its updates, one version, and the history has every update once.
  expect(result).toMatchObject({ status: 'trained', version: 'v1', trainingSteps: TOTAL_UPDATES });
  expect(await cluster.metricsWritten(run.runId)).toEqual(Array.from({ length: TOTAL_UPDATES }, (_, i) => i + 1));
  expect(await savedHistory(cluster.store(), agentId, 'v1')).toHaveLength(TOTAL_UPDATES);
  const versions = await new PolicyVersionRepository(cluster.orm.em.fork()).listByAgent(agentId);
  expect(versions.map((v) => [v.version, v.trainingRunId])).toEqual([['v1', run.runId]]);
  const mtimes = [...(await metricsMtimes(cluster.store(), run.runId)).values()];
  const firstAfterRestart = Math.min(...mtimes.filter((t) => t > restartedAtMs));
  console.info(
    `[chaos 4] stopped Temporal after update ${doneAtStop}/${TOTAL_UPDATES} for ${((restartedAtMs - stoppedAtMs) / 1000).toFixed(1)} s ` +
      `(restart included); next update written ${Number.isFinite(firstAfterRestart) ? ((firstAfterRestart - restartedAtMs) / 1000).toFixed(1) : 'n/a'} s after the server was back`,
  );
});
