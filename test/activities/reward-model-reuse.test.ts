/**
 * Reward-model reuse (issue 14) in the trainRewardModel activity, on real tiny models and a real
 * artifact store: a second run of the agent on the same rows and config gets the first run's
 * reward model without training; `reuse: false` retrains; new rows retrain; another agent never
 * reuses.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createDataActivities, createTrainingActivities } from '../../activities';
import { runArtifacts } from '../../storage/artifact-keys';
import { writeJsonl } from '../../activities/jsonl';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { runInActivityEnv, silentActivityLog, TINY_BYTE_CONFIG_PATCH } from '../helpers/temporal';

let root: string;
let store: LocalArtifactStore;
let training: ReturnType<typeof createTrainingActivities>;
let data: ReturnType<typeof createDataActivities>;
const rows = makeSyntheticFeedback(40, new Rng(11));

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'rm-reuse-'));
  store = new LocalArtifactStore(root);
  const deps = { orm: {} as MikroORM, store, log: silentActivityLog, heartbeatTickMs: 0 };
  training = createTrainingActivities(deps);
  data = createDataActivities(deps);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A run's config and train/val snapshots (as resolveConfig and splitDataset leave them), then its reward-model activity. */
async function rewardModelOf(runId: string, agentId: string, feedback = rows, reuse?: boolean) {
  const plan = await runInActivityEnv(data.resolveConfig, { runId, preset: 'quick', seed: 7, configPatch: TINY_BYTE_CONFIG_PATCH });
  const trainRef = runArtifacts.train(runId);
  const valRef = runArtifacts.val(runId);
  await writeJsonl(store, trainRef, feedback.slice(0, 32));
  await writeJsonl(store, valRef, feedback.slice(32));
  return runInActivityEnv(training.trainRewardModel, { runId, configRef: plan.configRef, trainRef, valRef, agentId, reuse });
}

it('reuses the reward model of an earlier run on the same rows and config; reuse false or new rows retrain', async () => {
  const first = await rewardModelOf('run_rm_first', 'agent-rm');
  expect(first.reusedFrom).toBeUndefined();
  expect(first.rewardModelRef).toBe(runArtifacts.rewardModel('run_rm_first'));

  const second = await rewardModelOf('run_rm_second', 'agent-rm');
  expect(second).toEqual({ rewardModelRef: first.rewardModelRef, metrics: first.metrics, reusedFrom: 'run_rm_first' });
  expect(await store.exists(runArtifacts.rewardModel('run_rm_second'))).toBe(false); // nothing trained

  const forced = await rewardModelOf('run_rm_forced', 'agent-rm', rows, false);
  expect(forced.reusedFrom).toBeUndefined();
  expect(forced.rewardModelRef).toBe(runArtifacts.rewardModel('run_rm_forced'));
  // Training is deterministic in what the fingerprint covers: the retrained model measures the same.
  expect(forced.metrics).toEqual(first.metrics);

  const more = [...rows.slice(0, 31), { ...rows[31], response: `${rows[31].response} (edited)` }, ...rows.slice(32)];
  const changed = await rewardModelOf('run_rm_changed', 'agent-rm', more);
  expect(changed.reusedFrom).toBeUndefined();
  expect(changed.rewardModelRef).toBe(runArtifacts.rewardModel('run_rm_changed'));

  const otherAgent = await rewardModelOf('run_rm_other', 'agent-rm-2');
  expect(otherAgent.reusedFrom).toBeUndefined();
}, 300_000);
