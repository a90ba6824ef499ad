/**
 * Fault tests 1–3 (issue 5): the GPU-queue worker is killed with SIGKILL, and the run still
 * finishes exactly as an uninterrupted run with the same seed and config would.
 *
 * Real processes: a private Temporal dev server, `worker/cpu.ts` and `worker/gpu.ts` started
 * as operators start them; the test kills and restarts the GPU worker. Tiny models, 8 PPO
 * updates in chunks of 4, a checkpoint after every update (checkpoint interval = 1 update).
 * The baseline run and every disturbed run use the same feedback rows, seed and config;
 * only the agent and run ids differ.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { runArtifacts } from '../../storage/artifact-keys';
import { TrainingRunRepository } from '../../db/repositories';
import { CheckpointFiles, readCheckpoint } from '../../ml/checkpoint';
import { type TrainPolicyResult } from '../../contract/run-contract';
import { pauseSignal, progressQuery, resumeSignal } from '../../workflows/messages';
import type { ManagedProcess } from '../helpers/processes';
import { ChaosCluster, tinyPatch, until, type StartedRun } from './cluster';
import { metricsMtimes, policyWeightBytes, redoneUpdates, savedHistory } from './run-artifacts';

const TOTAL_UPDATES = 8;
const UPDATES_PER_CHUNK = 4;
/** ACTIVITY_DEFAULTS.checkpointEvery: the most work a crash may cost. */
const CHECKPOINT_INTERVAL = 1;
const FEEDBACK_SEED = 11;
const patch = tinyPatch(TOTAL_UPDATES, UPDATES_PER_CHUNK);

let cluster: ChaosCluster;
let gpuWorker: ManagedProcess;
let baseline: { agentId: string; weights: Buffer; history: Record<string, number>[] };

beforeAll(async () => {
  cluster = await ChaosCluster.start({ name: 'chaos-worker-crash' });
  await cluster.startWorker('cpu');
  gpuWorker = await cluster.startWorker('gpu');
  // The uninterrupted reference run.
  const agentId = await cluster.seedAgent(FEEDBACK_SEED);
  const run = await cluster.startRun(agentId, patch);
  const result = (await run.handle.result()) as TrainPolicyResult;
  baseline = {
    agentId,
    weights: await policyWeightBytes(cluster.store(), agentId, result.version),
    history: await savedHistory(cluster.store(), agentId, result.version),
  };
}, 300_000);

afterAll(async () => {
  await cluster?.dispose();
});

/** Checks the disturbed run's saved policy and history against the baseline, bit for bit. */
async function expectIdenticalToBaseline(run: StartedRun, result: TrainPolicyResult): Promise<void> {
  expect(result).toMatchObject({ status: 'trained', version: 'v1', trainingSteps: TOTAL_UPDATES });
  const history = await savedHistory(cluster.store(), run.agentId, result.version);
  expect(history).toHaveLength(TOTAL_UPDATES);
  expect(history).toEqual(baseline.history);
  const weights = await policyWeightBytes(cluster.store(), run.agentId, result.version);
  expect(weights.length).toBe(baseline.weights.length);
  expect(weights.equals(baseline.weights)).toBe(true);
}

/** Seconds from `killedAtMs` until a metrics file is written again (training progressed). */
async function secondsToResumedProgress(run: StartedRun, killedAtMs: number): Promise<number> {
  const at = await until(async () => {
    const times = [...(await metricsMtimes(cluster.store(), run.runId)).values()];
    const after = times.filter((t) => t > killedAtMs);
    return after.length > 0 ? Math.min(...after) : undefined;
  }, 'training to progress after the kill');
  return (at - killedAtMs) / 1000;
}

it('(1) GPU worker kill -9 in the middle of a PPO chunk: a new worker finishes the run bit-identical to the uninterrupted one, redoing at most one checkpoint interval', async () => {
  const agentId = await cluster.seedAgent(FEEDBACK_SEED);
  const run = await cluster.startRun(agentId, patch);
  // Killed WHEN: three updates into the second chunk (updates 5..8): the heartbeat the server
  // holds may still say update 4 (heartbeats are throttled), the checkpoint on disk says 7.
  const killAfter = UPDATES_PER_CHUNK + 3;
  await until(async () => ((await cluster.metricsWritten(run.runId)).includes(killAfter) ? true : undefined), `update ${killAfter}`);
  await gpuWorker.kill9();
  const killedAtMs = Date.now();
  const doneAtKill = Math.max(...(await cluster.metricsWritten(run.runId)));
  const checkpointAtKill = Math.max(...(await cluster.checkpointUpdates(run.runId)));
  expect(doneAtKill).toBeLessThan(TOTAL_UPDATES); // really mid-chunk
  const before = await metricsMtimes(cluster.store(), run.runId);

  gpuWorker = await cluster.startWorker('gpu');
  const resumedAfterS = await secondsToResumedProgress(run, killedAtMs);
  const result = (await run.handle.result()) as TrainPolicyResult;

  // CHECKED: the result equals the baseline, and only work after the last checkpoint was redone.
  await expectIdenticalToBaseline(run, result);
  const redone = redoneUpdates(before, await metricsMtimes(cluster.store(), run.runId));
  console.info(
    `[chaos 1] killed the GPU worker after update ${doneAtKill}/${TOTAL_UPDATES} (checkpoint at ${checkpointAtKill}); ` +
      `completed updates redone: ${redone.length} [${redone.join(', ')}] (checkpoint interval ${CHECKPOINT_INTERVAL}); ` +
      `kill → resumed progress: ${resumedAfterS.toFixed(1)} s`,
  );
  expect(redone.length).toBeLessThanOrEqual(CHECKPOINT_INTERVAL);
});

it('(2) GPU worker kill -9 while a checkpoint is being written (temp files complete, rename pending): no torn checkpoint is loaded, the run resumes from the last verified one', async () => {
  const stallAt = UPDATES_PER_CHUNK + 2; // inside the second chunk
  const marker = path.join(cluster.artifactRoot, `stalled-${Date.now()}`);
  await gpuWorker.stop();
  gpuWorker = await cluster.startWorker('gpu', 'test/chaos/fixtures/gpu-worker-stalling-checkpoint-publish.ts', {
    CHAOS_STALL_AT_UPDATE: String(stallAt),
    CHAOS_STALL_MARKER: marker,
  });
  const agentId = await cluster.seedAgent(FEEDBACK_SEED);
  const run = await cluster.startRun(agentId, patch);

  // Killed WHEN: the worker is frozen between writing checkpoint `stallAt` into its temp dir and publishing it.
  const tmpDir = await until(() => fs.readFile(marker, 'utf8').catch(() => undefined), 'the checkpoint write to stall');
  await gpuWorker.kill9();
  const killedAtMs = Date.now();
  expect((await fs.readdir(tmpDir)).sort()).toEqual(['manifest.json', 'state.json', 'tensors.bin']);
  const published = await cluster.checkpointUpdates(run.runId);
  expect(published).not.toContain(stallAt);
  expect(Math.max(...published)).toBe(stallAt - 1);
  const before = await metricsMtimes(cluster.store(), run.runId);

  gpuWorker = await cluster.startWorker('gpu');
  const resumedAfterS = await secondsToResumedProgress(run, killedAtMs);
  const result = (await run.handle.result()) as TrainPolicyResult;

  // CHECKED: the torn write stays a temporary that nothing reads; every published checkpoint verifies; the result equals the baseline.
  await expectIdenticalToBaseline(run, result);
  expect(await cluster.checkpointDirNames(run.runId)).toContain(path.basename(tmpDir));
  for (const update of await cluster.checkpointUpdates(run.runId)) {
    await expect(readCheckpoint(cluster.store().resolve(runArtifacts.checkpoint(run.runId, update)))).resolves.toBeDefined();
  }
  const redone = redoneUpdates(before, await metricsMtimes(cluster.store(), run.runId));
  console.info(
    `[chaos 2] killed the GPU worker while publishing checkpoint ${stallAt} (last verified: ${stallAt - 1}); ` +
      `completed updates redone: ${redone.length} [${redone.join(', ')}]; kill → resumed progress: ${resumedAfterS.toFixed(1)} s`,
  );
  expect(redone.length).toBeLessThanOrEqual(CHECKPOINT_INTERVAL);
});

it('(3) bytes flipped in the newest checkpoint while the run is paused between chunks: the checksum catches it, the chunk falls back to the previous checkpoint, and the worker log and progress say so', async () => {
  const agentId = await cluster.seedAgent(FEEDBACK_SEED);
  const run = await cluster.startRun(agentId, patch);
  await until(async () => ((await cluster.metricsWritten(run.runId)).includes(1) ? true : undefined), 'the first PPO update');
  await run.handle.signal(pauseSignal);
  const paused = await until(async () => {
    const progress = await run.handle.query(progressQuery);
    return progress.paused && progress.lastCheckpoint?.update === UPDATES_PER_CHUNK ? progress : undefined;
  }, 'the pause after the first chunk');
  const statusRow = await until(async () => {
    const row = await new TrainingRunRepository(cluster.orm.em.fork()).get(run.runId);
    return row?.status === 'paused' ? row : undefined;
  }, 'the run row to say paused');
  expect(statusRow.status).toBe('paused');

  // Corrupted WHAT: one byte of tensors.bin in the checkpoint the workflow will resume from.
  const newest = paused.lastCheckpoint!;
  const tensorsFile = path.join(cluster.store().resolve(newest.ref), CheckpointFiles.tensors);
  const bytes = await fs.readFile(tensorsFile);
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  await fs.writeFile(tensorsFile, bytes);
  await expect(readCheckpoint(cluster.store().resolve(newest.ref))).rejects.toMatchObject({ name: 'CheckpointCorruptError' });
  const before = await metricsMtimes(cluster.store(), run.runId);
  const since = gpuWorker.mark();
  await run.handle.signal(resumeSignal);
  const result = (await run.handle.result()) as TrainPolicyResult;

  // CHECKED: the log names the corrupt checkpoint and the fallback; only the update after the previous checkpoint was redone; same result.
  const log = gpuWorker.output().slice(since);
  expect(log).toMatch(/checkpoint unusable, trying an older start/);
  expect(log).toMatch(/skipping corrupt checkpoint/);
  expect(log).toContain(`update-${String(newest.update).padStart(6, '0')}`);
  const redone = redoneUpdates(before, await metricsMtimes(cluster.store(), run.runId));
  expect(redone).toEqual([newest.update]);
  // …and progress says so, for clients that never read worker logs.
  expect((await run.handle.query(progressQuery)).checkpointRecoveries).toEqual([{ rejectedUpdate: newest.update, resumedFromUpdate: newest.update - 1 }]);
  await expectIdenticalToBaseline(run, result);
  await expect(readCheckpoint(cluster.store().resolve(newest.ref))).resolves.toBeDefined();
  console.info(`[chaos 3] flipped a byte in checkpoint ${newest.update}: rejected by its sha256, resumed from ${newest.update - 1}, redone updates [${redone.join(', ')}]`);
});
