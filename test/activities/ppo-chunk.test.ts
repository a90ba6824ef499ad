/**
 * The training activities in a MockActivityEnvironment, on real (tiny) models and a real
 * artifact store: a PPO chunk resumed from heartbeat details ends exactly where an
 * uninterrupted one does; a cancel delivered on a heartbeat stops the chunk and leaves its
 * checkpoint; a corrupt heartbeat checkpoint falls back to the chunk's `from`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MockActivityEnvironment } from '@temporalio/testing';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createDataActivities, createTrainingActivities } from '../../activities';
import { runArtifacts } from '../../storage/artifact-keys';
import { writeJsonl } from '../../activities/jsonl';
import type { PpoChunkInput } from '../../activities/ppo-chunk';
import type { PpoHeartbeat } from '../../contract/run-contract';
import { MetricKeys } from '../../common/names';
import { CheckpointFiles, listCheckpoints, readCheckpoint } from '../../ml/checkpoint';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { quietActivityEnv, runInActivityEnv, silentActivityLog, TINY_BYTE_CONFIG_PATCH } from '../helpers/temporal';

const runId = 'run_ppo_chunk_activity';
let root: string;
let store: LocalArtifactStore;
let training: ReturnType<typeof createTrainingActivities>;
let base: Omit<PpoChunkInput, 'from' | 'updates' | 'kl'>;

/** Runs an activity in a fresh mock environment, collecting its heartbeats. */
async function runActivity<A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
  args: A,
  opts: { heartbeatDetails?: unknown; onHeartbeat?: (d: PpoHeartbeat | undefined, env: MockActivityEnvironment) => void } = {},
): Promise<{ result: R; heartbeats: (PpoHeartbeat | undefined)[] }> {
  const env = quietActivityEnv(opts.heartbeatDetails);
  const heartbeats: (PpoHeartbeat | undefined)[] = [];
  env.on('heartbeat', (d: PpoHeartbeat | undefined) => {
    heartbeats.push(d);
    opts.onHeartbeat?.(d, env);
  });
  const result = (await env.run(fn, ...args)) as R;
  return { result, heartbeats };
}

/** Metrics minus the wall-clock ones (time/*), which no two runs share. */
function withoutTimings(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter(([key]) => !key.startsWith('time/')));
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'ppo-chunk-'));
  store = new LocalArtifactStore(root);
  // The training activities never touch the database. The liveness ticker is off so the
  // heartbeats seen are exactly the per-update ones. Every checkpoint is kept: these tests resume
  // from older ones (retention has its own test below).
  const deps = { orm: {} as MikroORM, store, log: silentActivityLog, heartbeatTickMs: 0, keepCheckpoints: 1000 };
  training = createTrainingActivities(deps);
  const data = createDataActivities(deps);
  const plan = await runInActivityEnv(data.resolveConfig, { runId, preset: 'quick', seed: 7, configPatch: TINY_BYTE_CONFIG_PATCH });
  const rows = makeSyntheticFeedback(40, new Rng(11));
  const trainRef = runArtifacts.train(runId);
  const valRef = runArtifacts.val(runId);
  await writeJsonl(store, trainRef, rows.slice(0, 32));
  await writeJsonl(store, valRef, rows.slice(32));
  const reward = await runActivity(training.trainRewardModel, [{ runId, configRef: plan.configRef, trainRef, valRef }]);
  const sft = await runActivity(training.sftWarmStart, [{ runId, configRef: plan.configRef, trainRef }]);
  base = { runId, configRef: plan.configRef, rewardModelRef: reward.result.rewardModelRef, policyInitRef: sft.result.policyInitRef, trainRef };
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('ppoChunk', () => {
  let straight: Awaited<ReturnType<typeof training.ppoChunk>>;

  it('runs a chunk from scratch, checkpointing and heartbeating every update', async () => {
    const { result, heartbeats } = await runActivity(training.ppoChunk, [{ ...base, from: null, updates: 3, kl: {} }]);
    straight = result;
    expect(result.checkpoint).toEqual({ ref: runArtifacts.checkpoint(runId, 3), update: 3 });
    expect(heartbeats.map((h) => h?.update)).toEqual([1, 2, 3]);
    for (const key of Object.values(MetricKeys)) expect(Number.isFinite(result.metrics[key])).toBe(true);
    const ckpt = await readCheckpoint(store.resolve(result.checkpoint.ref));
    expect((ckpt.state as { updatesDone: number }).updatesDone).toBe(3);
  });

  it('a retried attempt resumes from its heartbeat details and ends where the first would have', async () => {
    const details: PpoHeartbeat = { update: 2, checkpointRef: runArtifacts.checkpoint(runId, 2) };
    // As if the first attempt died before writing checkpoint 3 (else 3, the newest verified, is where it would start).
    await rm(store.resolve(runArtifacts.checkpoint(runId, 3)), { recursive: true });
    const { result, heartbeats } = await runActivity(training.ppoChunk, [{ ...base, from: null, updates: 3, kl: {} }], { heartbeatDetails: details });
    // Only update 3 ran again, and from the same state, so the metrics match bit for bit.
    expect(heartbeats.map((h) => h?.update)).toEqual([3]);
    expect(result.checkpoint.update).toBe(3);
    expect(withoutTimings(result.metrics)).toEqual(withoutTimings(straight.metrics));
  });

  it('a retry whose chunk had already finished returns the recorded metrics without training', async () => {
    const details: PpoHeartbeat = { update: 3, checkpointRef: runArtifacts.checkpoint(runId, 3) };
    const { result, heartbeats } = await runActivity(training.ppoChunk, [{ ...base, from: null, updates: 3, kl: {} }], { heartbeatDetails: details });
    expect(heartbeats).toEqual([]);
    expect(withoutTimings(result.metrics)).toEqual(withoutTimings(straight.metrics));
  });

  it('falls back to `from` when the heartbeat checkpoint is corrupt', async () => {
    const corrupt = runArtifacts.checkpoint(runId, 2);
    const from = { ref: runArtifacts.checkpoint(runId, 1), update: 1 };
    const tensorsFile = path.join(store.resolve(corrupt), CheckpointFiles.tensors);
    await writeFile(tensorsFile, 'not the bytes the manifest hashed');
    // Checkpoint 3 (the chunk's end) would be the newest verified start; without it, 1 is.
    await rm(store.resolve(runArtifacts.checkpoint(runId, 3)), { recursive: true });
    const { result, heartbeats } = await runActivity(training.ppoChunk, [{ ...base, from, updates: 2, kl: {} }], {
      heartbeatDetails: { update: 2, checkpointRef: corrupt } satisfies PpoHeartbeat,
    });
    expect(heartbeats.map((h) => h?.update)).toEqual([2, 3]);
    expect(withoutTimings(result.metrics)).toEqual(withoutTimings(straight.metrics));
    expect(result.recoveries).toEqual([{ rejectedUpdate: 2, resumedFromUpdate: 1 }]);
    // The rewritten checkpoint 2 verifies again.
    await expect(readCheckpoint(store.resolve(corrupt))).resolves.toBeDefined();
  });

  it('applies KL overrides before its first update', async () => {
    const from = { ref: runArtifacts.checkpoint(runId, 3), update: 3 };
    const { result } = await runActivity(training.ppoChunk, [{ ...base, from, updates: 1, kl: { coef: 0.05, target: 2 } }]);
    expect(result.klTarget).toBe(2);
    expect(result.metrics[MetricKeys.klCoef]).toBe(0.05);
  });

  it('stops on a cancel delivered through a heartbeat and leaves the checkpoint it wrote', async () => {
    const cancelRun = { ...base, runId: 'run_ppo_chunk_cancel' };
    const seen: number[] = [];
    const attempt = runActivity(training.ppoChunk, [{ ...cancelRun, from: null, updates: 4, kl: {} }], {
      onHeartbeat: (d, env) => {
        if (d) seen.push(d.update);
        if (d?.update === 2) env.cancel();
      },
    });
    await expect(attempt).rejects.toMatchObject({ name: 'CancelledFailure' });
    expect(seen).toEqual([1, 2]);
    const ckpt = await readCheckpoint(store.resolve(runArtifacts.checkpoint(cancelRun.runId, 2)));
    expect((ckpt.state as { updatesDone: number }).updatesDone).toBe(2);
    expect(await store.exists(runArtifacts.checkpoint(cancelRun.runId, 3))).toBe(false);
  });

  it('keeps only the newest `keepCheckpoints` checkpoints at the end of a chunk (retention)', async () => {
    const pruning = createTrainingActivities({ orm: {} as MikroORM, store, log: silentActivityLog, heartbeatTickMs: 0, keepCheckpoints: 2 });
    const prunedRun = { ...base, runId: 'run_ppo_chunk_retention' };
    const first = await runActivity(pruning.ppoChunk, [{ ...prunedRun, from: null, updates: 4, kl: {} }]);
    expect((await listCheckpoints(store.resolve(runArtifacts.checkpoints(prunedRun.runId)))).map((c) => c.update)).toEqual([3, 4]);
    // The next chunk starts from the newest, as the workflow passes it.
    await runActivity(pruning.ppoChunk, [{ ...prunedRun, from: first.result.checkpoint, updates: 2, kl: {} }]);
    expect((await listCheckpoints(store.resolve(runArtifacts.checkpoints(prunedRun.runId)))).map((c) => c.update)).toEqual([5, 6]);
  });

  it('with no heartbeat and no `from`, resumes from the newest checkpoint that verifies, logging the corrupt one', async () => {
    // The cancelled run above left checkpoints 1 and 2; break 2.
    const runId2 = 'run_ppo_chunk_cancel';
    await writeFile(path.join(store.resolve(runArtifacts.checkpoint(runId2, 2)), CheckpointFiles.tensors), 'torn');
    const warnings: string[] = [];
    const logged = createTrainingActivities({ orm: {} as MikroORM, store, heartbeatTickMs: 0, log: { info: () => undefined, warn: (m) => warnings.push(m) } });
    const { result, heartbeats } = await runActivity(logged.ppoChunk, [{ ...base, runId: runId2, from: null, updates: 3, kl: {} }]);
    expect(heartbeats.map((h) => h?.update)).toEqual([2, 3]);
    expect(result.checkpoint.update).toBe(3);
    expect(warnings).toContain('skipping corrupt checkpoint');
    expect(result.recoveries).toEqual([{ rejectedUpdate: 2, resumedFromUpdate: 1 }]);
  });
});
