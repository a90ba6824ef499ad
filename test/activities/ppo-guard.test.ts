/**
 * Guardrail rollback in the PPO chunk activity (issue 14), on real tiny models and a real
 * artifact store, by fault injection through the run config (`guard.faults`): one trip per
 * condition is detected, the chunk goes back to the last healthy checkpoint, applies the remedy
 * and completes, with the event recorded; at `maxTrips` the chunk fails non-retryably naming the
 * last trip; no checkpoint ever holds a non-finite weight; and a rolled-back run resumed from its
 * checkpoints ends bit-identical.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createDataActivities, createTrainingActivities } from '../../activities';
import { runArtifacts } from '../../storage/artifact-keys';
import { writeJsonl } from '../../activities/jsonl';
import type { GuardState } from '../../activities/ppo-guard';
import type { PpoChunkInput } from '../../activities/ppo-chunk';
import type { PpoHeartbeat } from '../../contract/run-contract';
import { MetricKeys, type UpdateMetrics } from '../../common/names';
import { readCheckpoint } from '../../ml/checkpoint';
import type { GuardConfig, GuardFault, RunConfig } from '../../spec/run-config';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { quietActivityEnv, runInActivityEnv, silentActivityLog, TINY_BYTE_CONFIG_PATCH } from '../helpers/temporal';

const baseRun = 'run_ppo_guard_base';
let root: string;
let store: LocalArtifactStore;
let training: ReturnType<typeof createTrainingActivities>;
let artifacts: Omit<PpoChunkInput, 'from' | 'updates' | 'kl' | 'runId' | 'configRef'>;
let baseConfig: RunConfig;
/** Metrics of an unguarded-looking healthy run (no faults), per update. */
let healthy: UpdateMetrics[];

async function runChunk(input: PpoChunkInput, heartbeatDetails?: PpoHeartbeat) {
  const env = quietActivityEnv(heartbeatDetails);
  return (await env.run(training.ppoChunk, input)) as Awaited<ReturnType<typeof training.ppoChunk>>;
}

/** A run of its own whose config is the base one with `guard` changed. */
async function guardedRun(runId: string, guard: Partial<GuardConfig>): Promise<Omit<PpoChunkInput, 'from' | 'updates' | 'kl'>> {
  const config: RunConfig = { ...baseConfig, guard: { ...baseConfig.guard, ...guard } };
  const configRef = runArtifacts.config(runId);
  await store.writeJson(configRef, config);
  return { ...artifacts, runId, configRef };
}

const fault = (atUpdate: number, over: Partial<GuardFault>): GuardFault => ({ atUpdate, whileTripsBelow: 1, ...over });

async function tensorsOf(runId: string, update: number) {
  const ckpt = await readCheckpoint(store.resolve(runArtifacts.checkpoint(runId, update)));
  return ckpt.tensors;
}

function allFinite(tensors: Awaited<ReturnType<typeof tensorsOf>>): boolean {
  return tensors.every((t) => t.data.every(Number.isFinite));
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'ppo-guard-'));
  store = new LocalArtifactStore(root);
  // Every checkpoint is kept: the tests read back the ones a rollback returned to.
  const deps = { orm: {} as MikroORM, store, log: silentActivityLog, heartbeatTickMs: 0, trainerCacheSize: 0, keepCheckpoints: 1000 };
  training = createTrainingActivities(deps);
  const data = createDataActivities(deps);
  const plan = await runInActivityEnv(data.resolveConfig, { runId: baseRun, preset: 'quick', seed: 7, configPatch: TINY_BYTE_CONFIG_PATCH });
  baseConfig = await store.readJson<RunConfig>(plan.configRef);
  const rows = makeSyntheticFeedback(40, new Rng(11));
  const trainRef = runArtifacts.train(baseRun);
  const valRef = runArtifacts.val(baseRun);
  await writeJsonl(store, trainRef, rows.slice(0, 32));
  await writeJsonl(store, valRef, rows.slice(32));
  const reward = await runInActivityEnv(training.trainRewardModel, { runId: baseRun, configRef: plan.configRef, trainRef, valRef });
  const sft = await runInActivityEnv(training.sftWarmStart, { runId: baseRun, configRef: plan.configRef, trainRef });
  artifacts = { rewardModelRef: reward.rewardModelRef, policyInitRef: sft.policyInitRef, trainRef };

  const plain = await guardedRun('run_guard_plain', {});
  const result = await runChunk({ ...plain, from: null, updates: 3, kl: {} });
  expect(result.guardrails).toBeUndefined(); // the defaults do not trip on a healthy run
  healthy = [];
  for (let u = 1; u <= 3; u++) healthy.push(await store.readJson<UpdateMetrics>(runArtifacts.metrics('run_guard_plain', u)));
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** One fault per condition, each tripping at update 2 (kl_explosion at 3: it needs 3 high updates in a row). */
const conditions: [string, Partial<GuardConfig>, number][] = [
  ['kl_explosion', { faults: [1, 2, 3].map((u) => fault(u, { metric: MetricKeys.klObjective, value: 100 })), rewardHackScoreRise: 99 }, 3],
  ['negative_kl', { faults: [fault(2, { metric: MetricKeys.klObjective, value: -5 })] }, 2],
  ['entropy_floor', { faults: [fault(2, { metric: MetricKeys.entropy, value: 0.001 })] }, 2],
  ['entropy_drop', { entropyWindow: 1, faults: [fault(2, { metric: MetricKeys.entropy, value: 0.06 })] }, 2],
  ['length_drift', { faults: [fault(2, { metric: MetricKeys.responseLength, value: 1000 })] }, 2],
  // Every update is made to end every reply (the tiny policy itself never emits EOS in 6 tokens), except update 2's
  // first try, which ends none (faults apply in order, the last one wins).
  [
    'eos_collapse',
    {
      eosRateSigmas: 0,
      eosRateMinRatio: 0.5,
      faults: [
        ...[1, 2, 3, 4].map((u) => fault(u, { metric: MetricKeys.eosRate, value: 1, whileTripsBelow: 99 })),
        fault(2, { metric: MetricKeys.eosRate, value: 0 }),
      ],
    },
    2,
  ],
  ['reward_hacking', { faults: [fault(2, { metric: MetricKeys.scores, value: 50 }), fault(2, { metric: MetricKeys.klObjective, value: 10 })] }, 2],
  ['non_finite', { faults: [fault(2, { metric: MetricKeys.totalLoss, value: Number.NaN })] }, 2],
];

describe.each(conditions)('%s', (condition, guard, tripAt) => {
  it('is detected, rolls back to the last healthy checkpoint, halves the LR and completes, with the event recorded', async () => {
    const runId = `run_guard_${condition}`;
    const run = await guardedRun(runId, guard);
    const result = await runChunk({ ...run, from: null, updates: 4, kl: {} });
    expect(result.checkpoint.update).toBe(4);
    expect(result.guardrails?.trips).toBe(1);
    const [event] = result.guardrails!.events;
    expect(event).toMatchObject({
      kind: 'guardrail',
      trip: 1,
      update: tripAt,
      condition,
      rolledBackTo: { update: tripAt - 1, ref: runArtifacts.checkpoint(runId, tripAt - 1) },
      remedy: { kind: 'halve_lr', learningRateScale: 0.5 },
    });
    expect(event.message).toContain(condition);
    // The redone update ran at half the learning rate the healthy run used there.
    const redone = await store.readJson<UpdateMetrics>(runArtifacts.metrics(runId, tripAt));
    expect(redone[MetricKeys.learningRate]).toBeCloseTo(healthy[tripAt - 1][MetricKeys.learningRate] / 2, 12);
    // Checkpoints record that they passed, and from the rollback on carry the trip and the remedy.
    const state = await store.readJson<GuardState>(runArtifacts.guard(runId, 4));
    expect(state).toMatchObject({ healthy: true, trips: 1, remedies: { learningRateScale: 0.5 } });
    expect(await store.readJson<GuardState>(runArtifacts.guard(runId, tripAt - 1))).toMatchObject({ healthy: true, trips: 0 });
  });
});

it('raise_kl doubles β and lower_temperature lowers the temperature after the rollback', async () => {
  const trip = [fault(2, { metric: MetricKeys.entropy, value: 0.001 })];
  const kl = await runChunk({ ...(await guardedRun('run_guard_raise_kl', { remedy: 'raise_kl', faults: trip })), from: null, updates: 3, kl: {} });
  const klBefore = await store.readJson<UpdateMetrics>(runArtifacts.metrics('run_guard_plain', 2));
  const klAfter = await store.readJson<UpdateMetrics>(runArtifacts.metrics('run_guard_raise_kl', 2));
  expect(klAfter[MetricKeys.klCoef]).toBeCloseTo(2 * klBefore[MetricKeys.klCoef], 12);
  expect(kl.guardrails?.events[0].remedy).toMatchObject({ kind: 'raise_kl', learningRateScale: 1 });

  const temp = await runChunk({ ...(await guardedRun('run_guard_temperature', { remedy: 'lower_temperature', faults: trip })), from: null, updates: 3, kl: {} });
  expect(temp.guardrails?.events[0].remedy).toMatchObject({ kind: 'lower_temperature', temperature: 0.8 });
  expect(await store.readJson<GuardState>(runArtifacts.guard('run_guard_temperature', 3))).toMatchObject({ remedies: { temperature: 0.8 } });
});

it('fails non-retryably at maxTrips, naming the last trip, with every event in the details', async () => {
  const run = await guardedRun('run_guard_fail', { maxTrips: 3, faults: [fault(2, { metric: MetricKeys.entropy, value: 0.001, whileTripsBelow: 99 })] });
  const failure = runChunk({ ...run, from: null, updates: 3, kl: {} });
  await expect(failure).rejects.toMatchObject({
    name: 'ApplicationFailure',
    type: 'GuardrailTripped',
    nonRetryable: true,
    message: expect.stringMatching(/tripped 3 times .*last at update 2: entropy_floor/),
  });
  const details = ((await failure.catch((err: { details: unknown[] }) => err)) as { details: [{ trips: number; events: { trip: number; remedy: { kind: string } }[] }] }).details[0];
  expect(details.trips).toBe(3);
  expect(details.events.map((e) => [e.trip, e.remedy.kind])).toEqual([
    [1, 'halve_lr'],
    [2, 'halve_lr'],
    [3, 'fail_run'],
  ]);
  // Nothing past the last healthy checkpoint was written.
  expect(await store.exists(runArtifacts.checkpoint('run_guard_fail', 2))).toBe(false);
});

it('never checkpoints a non-finite weight: a NaN weight after update 2 rolls back to checkpoint 1', async () => {
  const runId = 'run_guard_nan_weight';
  const run = await guardedRun(runId, { faults: [fault(2, { nanWeight: true })] });
  const result = await runChunk({ ...run, from: null, updates: 3, kl: {} });
  expect(result.guardrails?.events[0]).toMatchObject({ condition: 'non_finite', update: 2, rolledBackTo: { update: 1 } });
  expect(result.guardrails?.events[0].message).toContain('weight');
  for (const u of [1, 2, 3]) expect(allFinite(await tensorsOf(runId, u))).toBe(true);
});

it('a run that rolled back, resumed from its checkpoints, ends bit-identical', async () => {
  const guard = { faults: [fault(2, { metric: MetricKeys.entropy, value: 0.001 })] };
  const straight = await guardedRun('run_guard_exact', guard);
  await runChunk({ ...straight, from: null, updates: 4, kl: {} });
  const expected = await tensorsOf('run_guard_exact', 4);
  // The retry of a worker that died after checkpoint 2 (past the rollback): it resumes there with the trip and remedy.
  await rm(store.resolve(runArtifacts.checkpoint('run_guard_exact', 3)), { recursive: true });
  await rm(store.resolve(runArtifacts.checkpoint('run_guard_exact', 4)), { recursive: true });
  const resumed = await runChunk({ ...straight, from: null, updates: 4, kl: {} }, { update: 2, checkpointRef: runArtifacts.checkpoint('run_guard_exact', 2) });
  expect(resumed.guardrails?.trips).toBe(1);
  const actual = await tensorsOf('run_guard_exact', 4);
  expect(actual.map((t) => t.name)).toEqual(expected.map((t) => t.name));
  actual.forEach((t, i) => expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(expected[i].data.buffer, expected[i].data.byteOffset, expected[i].data.byteLength))).toBe(true));
});
