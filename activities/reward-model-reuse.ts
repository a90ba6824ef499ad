/**
 * Reward-model reuse (issue 14, the seed's "no retraining when no new feedback has come in"):
 * a run whose reward model would be trained on exactly the rows and the config an earlier run
 * of the same agent trained one on gets that reward model instead.
 *
 * The fingerprint covers everything training reads: the bytes of the train and validation
 * snapshots (so the feedback content and the seeded 80/20 split), the reward-model config, the
 * run seed (the model's initialisation) and the Hugging Face base, if any. Training is
 * deterministic in those, so a reused model is the one retraining would have produced.
 * The index lives in the artifact store beside the models it points to
 * (`reward-models/{agentId}/{fingerprint}.json`) and is written after the model is saved, so an
 * entry always names a complete model.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { RunConfig } from '../spec/run-config';
import type { ArtifactStore } from '../storage/artifact-store';
import type { HubModelRef } from '../hub/hf-hub';
import { rewardModelIndexKey } from '../storage/artifact-keys';
import type { RunProgress } from '../contract/run-contract';

export interface RewardModelIndexEntry {
  /** The run that trained it. */
  runId: string;
  rewardModelRef: string;
  metrics: NonNullable<RunProgress['rewardModel']>;
}

async function sha256Of(store: ArtifactStore, key: string): Promise<string> {
  return createHash('sha256').update(await readFile(store.resolve(key))).digest('hex');
}

/** sha256 over what reward-model training reads (see the module comment). */
export async function rewardModelFingerprint(
  store: ArtifactStore,
  input: { trainRef: string; valRef: string; baseModelDir?: string; baseModel?: HubModelRef },
  config: RunConfig,
): Promise<string> {
  const parts: unknown[] = [await sha256Of(store, input.trainRef), await sha256Of(store, input.valRef), config.reward, config.seed, input.baseModelDir ?? null];
  // A hub base (by id and revision) is part of what the reward model starts from; runs without one keep their old fingerprints.
  if (input.baseModel) parts.push(input.baseModel.repo, input.baseModel.revision ?? null);
  // A tokenizer trained on the feedback (ml/run-tokenizer) is read too; byte-level runs keep their old fingerprints.
  if (config.tokenizer !== undefined && config.tokenizer.kind !== 'byte') parts.push(config.tokenizer);
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/** The earlier run's reward model for this fingerprint, when its entry and its model are both still there. */
export async function findReusableRewardModel(store: ArtifactStore, agentId: string, fingerprint: string): Promise<RewardModelIndexEntry | null> {
  const key = rewardModelIndexKey(agentId, fingerprint);
  if (!(await store.exists(key))) return null;
  const entry = await store.readJson<RewardModelIndexEntry>(key);
  return (await store.exists(entry.rewardModelRef)) ? entry : null;
}

/** Records a freshly trained reward model for later runs of the agent. */
export async function recordRewardModel(store: ArtifactStore, agentId: string, fingerprint: string, entry: RewardModelIndexEntry): Promise<void> {
  await store.writeJson(rewardModelIndexKey(agentId, fingerprint), entry);
}
