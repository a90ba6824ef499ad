/**
 * The live-trainer cache (activities/trainer-cache.ts): the bookkeeping on its own, then the
 * PPO activities on real tiny models. A run continued by the trainer a process kept must end
 * byte for byte where one restored from disk ends (checkpoint files, metrics, the exported
 * policy); a checkpoint on disk that differs from the live trainer, a rewritten input, a
 * failed chunk or another process all mean a restore from disk.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createDataActivities, createTrainingActivities, type ActivityDeps } from '../../activities';
import { runArtifacts } from '../../storage/artifact-keys';
import { writeJsonl } from '../../activities/jsonl';
import type { PpoChunkInput } from '../../activities/ppo-chunk';
import type { PpoHeartbeat } from '../../contract/run-contract';
import { sameCheckpoint, TrainerCache } from '../../activities/trainer-cache';
import { CheckpointFiles, readCheckpoint, writeCheckpoint, type Checkpoint } from '../../ml/checkpoint';
import { PolicyFiles } from '../../ml/policy-export';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { quietActivityEnv, runInActivityEnv, silentActivityLog, TINY_BYTE_CONFIG_PATCH } from '../helpers/temporal';

class FakeValue {
  disposed = 0;
  dispose(): void {
    this.disposed += 1;
  }
}

const at = (update: number) => ({ ref: `runs/r/checkpoints/update-${update}`, update });

describe('TrainerCache', () => {
  it('hands a value out once, only for the same run, inputs and checkpoint', () => {
    const cache = new TrainerCache<FakeValue>(1);
    const v = new FakeValue();
    cache.put('r', 'inputs', at(5), v);
    expect(cache.take('other', 'inputs', at(5))).toBeNull();
    expect(cache.take('r', 'inputs', at(5))).toBe(v);
    expect(cache.take('r', 'inputs', at(5))).toBeNull(); // taken: the caller owns it now
    expect(v.disposed).toBe(0);
  });

  it('disposes a stale value: another checkpoint or rewritten inputs', () => {
    const cache = new TrainerCache<FakeValue>(1);
    const a = new FakeValue();
    cache.put('r', 'inputs', at(5), a);
    expect(cache.take('r', 'inputs', at(4))).toBeNull();
    expect(a.disposed).toBe(1);
    const b = new FakeValue();
    cache.put('r', 'inputs', at(5), b);
    expect(cache.take('r', 'inputs changed', at(5))).toBeNull();
    expect(b.disposed).toBe(1);
    expect(cache.size).toBe(0);
  });

  it('keeps at most `capacity` runs, least recently used out first, and nothing at capacity 0', () => {
    const cache = new TrainerCache<FakeValue>(2);
    const [a, b, c] = [new FakeValue(), new FakeValue(), new FakeValue()];
    cache.put('a', 'i', at(1), a);
    cache.put('b', 'i', at(1), b);
    cache.put('c', 'i', at(1), c);
    expect([a.disposed, b.disposed, c.disposed]).toEqual([1, 0, 0]);
    const b2 = new FakeValue();
    cache.put('b', 'i', at(2), b2); // replaces b's older value
    expect(b.disposed).toBe(1);
    cache.evict('c');
    expect(c.disposed).toBe(1);
    expect(cache.size).toBe(1);
    const none = new TrainerCache<FakeValue>(0);
    const d = new FakeValue();
    none.put('d', 'i', at(1), d);
    expect(d.disposed).toBe(1);
    expect(none.size).toBe(0);
  });
});

describe('sameCheckpoint', () => {
  const base: Checkpoint = { tensors: [{ name: 'w', shape: [2], data: new Float32Array([1, 2]) }], state: { step: 3, rng: [1, 2] } };
  it('compares tensors bytewise and the state as JSON', () => {
    expect(sameCheckpoint(base, { tensors: [{ name: 'w', shape: [2], data: new Float32Array([1, 2]) }], state: { step: 3, rng: [1, 2] } })).toBe(true);
    expect(sameCheckpoint(base, { tensors: [{ name: 'w', shape: [2], data: new Float32Array([1, 2.0000002]) }], state: base.state })).toBe(false);
    expect(sameCheckpoint(base, { tensors: [{ name: 'v', shape: [2], data: new Float32Array([1, 2]) }], state: base.state })).toBe(false);
    expect(sameCheckpoint(base, { tensors: [{ name: 'w', shape: [1, 2], data: new Float32Array([1, 2]) }], state: base.state })).toBe(false);
    expect(sameCheckpoint(base, { tensors: base.tensors, state: { step: 4, rng: [1, 2] } })).toBe(false);
    expect(sameCheckpoint(base, { tensors: [], state: base.state })).toBe(false);
  });
});

describe('PPO chunks with the live trainer kept between them', () => {
  const sourceRun = 'run_trainer_cache';
  let root: string;
  let store: LocalArtifactStore;
  let artifacts: Omit<PpoChunkInput, 'from' | 'updates' | 'kl' | 'runId'>;
  let valRef: string;

  /** Training activities of one "process", recording how each chunk got its trainer. */
  function processWith(overrides: Partial<ActivityDeps> = {}) {
    const opened: string[] = [];
    const warnings: string[] = [];
    const activities = createTrainingActivities({
      orm: {} as MikroORM,
      store,
      heartbeatTickMs: 0,
      log: {
        info: (message, attrs) => {
          if (message === 'ppo chunk opened') opened.push(String(attrs?.from));
        },
        warn: (message) => warnings.push(message),
      },
      ...overrides,
    });
    return { activities, opened, warnings };
  }

  function chunk(p: ReturnType<typeof processWith>, runId: string, from: number | null, updates: number, opts: { onHeartbeat?: (d: PpoHeartbeat | undefined, cancel: () => void) => void } = {}) {
    const env = quietActivityEnv();
    if (opts.onHeartbeat) env.on('heartbeat', (d: PpoHeartbeat | undefined) => opts.onHeartbeat!(d, () => env.cancel()));
    const input: PpoChunkInput = { ...artifacts, runId, from: from === null ? null : { ref: runArtifacts.checkpoint(runId, from), update: from }, updates, kl: {} };
    return env.run(p.activities.ppoChunk, input) as ReturnType<typeof p.activities.ppoChunk>;
  }

  const bytesOf = (runId: string, update: number, file: string) => readFile(path.join(store.resolve(runArtifacts.checkpoint(runId, update)), file));
  /** Metrics files minus the wall-clock ones (time/*), which no two runs share. */
  async function metricsOf(runId: string, updates: number): Promise<Record<string, number>[]> {
    const out: Record<string, number>[] = [];
    for (let u = 1; u <= updates; u++) {
      const m = await store.readJson<Record<string, number>>(runArtifacts.metrics(runId, u));
      out.push(Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith('time/'))));
    }
    return out;
  }

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'trainer-cache-'));
    store = new LocalArtifactStore(root);
    const deps = { orm: {} as MikroORM, store, log: silentActivityLog, heartbeatTickMs: 0 };
    const training = createTrainingActivities(deps);
    const plan = await runInActivityEnv(createDataActivities(deps).resolveConfig, { runId: sourceRun, preset: 'quick', seed: 5, configPatch: TINY_BYTE_CONFIG_PATCH });
    const rows = makeSyntheticFeedback(40, new Rng(13));
    const trainRef = runArtifacts.train(sourceRun);
    valRef = runArtifacts.val(sourceRun);
    await writeJsonl(store, trainRef, rows.slice(0, 32));
    await writeJsonl(store, valRef, rows.slice(32));
    const reward = await runInActivityEnv(training.trainRewardModel, { runId: sourceRun, configRef: plan.configRef, trainRef, valRef });
    const sft = await runInActivityEnv(training.sftWarmStart, { runId: sourceRun, configRef: plan.configRef, trainRef });
    // Every run below trains from these same artifacts; only its checkpoints and metrics are its own.
    artifacts = { configRef: plan.configRef, rewardModelRef: reward.rewardModelRef, policyInitRef: sft.policyInitRef, trainRef };
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('continues on the live trainer and ends byte for byte where a restore from disk ends, export included', async () => {
    const live = processWith();
    await chunk(live, 'run_live', null, 3);
    await chunk(live, 'run_live', 3, 2);
    const exportedLive = await runInActivityEnv(live.activities.exportPolicy, {
      ...artifacts,
      runId: 'run_live',
      checkpoint: { ref: runArtifacts.checkpoint('run_live', 5), update: 5 },
      valRef,
    });
    expect(live.opened).toEqual(['fresh', 'live trainer']);

    // Each step in a new process: every chunk and the export restore from disk.
    await chunk(processWith(), 'run_disk', null, 3);
    const second = processWith();
    await chunk(second, 'run_disk', 3, 2);
    expect(second.opened).toEqual(['checkpoint']);
    const exportedDisk = await runInActivityEnv(processWith().activities.exportPolicy, {
      ...artifacts,
      runId: 'run_disk',
      checkpoint: { ref: runArtifacts.checkpoint('run_disk', 5), update: 5 },
      valRef,
    });

    for (const file of [CheckpointFiles.tensors, CheckpointFiles.state]) {
      expect((await bytesOf('run_live', 5, file)).equals(await bytesOf('run_disk', 5, file))).toBe(true);
    }
    expect(await metricsOf('run_live', 5)).toEqual(await metricsOf('run_disk', 5));
    expect(exportedLive.rewardMean).toBe(exportedDisk.rewardMean);
    expect(exportedLive.rewardStd).toBe(exportedDisk.rewardStd);
    const policyWeights = (runId: string) => readFile(path.join(store.resolve(runArtifacts.finalPolicy(runId)), PolicyFiles.weights, CheckpointFiles.tensors));
    expect((await policyWeights('run_live')).equals(await policyWeights('run_disk'))).toBe(true);
  });

  it('restores from disk when the checkpoint there verifies but differs from the live trainer', async () => {
    const p = processWith();
    await chunk(p, 'run_differs', null, 2);
    const dir = store.resolve(runArtifacts.checkpoint('run_differs', 2));
    const onDisk = await readCheckpoint(dir);
    onDisk.tensors[0].data[0] += 1; // a whole, verifying checkpoint, but not the trainer's state
    await writeCheckpoint(dir, onDisk);
    await chunk(p, 'run_differs', 2, 1);
    expect(p.opened).toEqual(['fresh', 'checkpoint']);
    expect(p.warnings).toContain('checkpoint differs from the live trainer that wrote it; restoring from disk');
  });

  it('restores from disk when the chunk start checkpoint is corrupt on disk, falling back like a new process', async () => {
    const p = processWith();
    await chunk(p, 'run_torn', null, 2);
    await writeFile(path.join(store.resolve(runArtifacts.checkpoint('run_torn', 2)), CheckpointFiles.tensors), 'torn');
    const out = await chunk(p, 'run_torn', 2, 1);
    expect(p.opened).toEqual(['fresh', 'checkpoint']);
    expect(out.recoveries).toEqual([{ rejectedUpdate: 2, resumedFromUpdate: 1 }]);
    expect(out.checkpoint.update).toBe(3);
  });

  it('reopens when an input artifact was rewritten under the same key', async () => {
    const p = processWith();
    await chunk(p, 'run_rewritten', null, 2);
    const configFile = store.resolve(artifacts.configRef);
    await store.writeJson(artifacts.configRef, JSON.parse(await readFile(configFile, 'utf8'))); // same content, new file
    await chunk(p, 'run_rewritten', 2, 1);
    expect(p.opened).toEqual(['fresh', 'checkpoint']);
  });

  it('keeps nothing of a chunk that failed: the next one restores from disk', async () => {
    const p = processWith();
    await chunk(p, 'run_cancelled', null, 2);
    const cancelled = chunk(p, 'run_cancelled', 2, 3, { onHeartbeat: (d, cancel) => d?.update === 3 && cancel() });
    await expect(cancelled).rejects.toMatchObject({ name: 'CancelledFailure' });
    await chunk(p, 'run_cancelled', 3, 2);
    expect(p.opened).toEqual(['fresh', 'live trainer', 'checkpoint']);
  });

  it('with the cache off, every chunk restores from disk', async () => {
    const p = processWith({ trainerCacheSize: 0 });
    await chunk(p, 'run_uncached', null, 1);
    await chunk(p, 'run_uncached', 1, 1);
    expect(p.opened).toEqual(['fresh', 'checkpoint']);
  });
});
