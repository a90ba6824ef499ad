/**
 * A trained policy of one agent: the seed's PolicyVersion table plus the run that made it.
 * `version` is the seed's string form ("v15"); `versionNumber` is its integer, gap-free per
 * agent (allocated by PolicyVersionRepository.saveForRun).
 */
import { EntitySchema, type Opt } from '@mikro-orm/core';

export interface PolicyVersion {
  /** Random UUID, assigned by the repository. */
  id: string;
  agentId: string;
  version: string;
  versionNumber: number;
  /** Artifact-store key of the saved policy (`{agentId}/{version}/policy`), never a worker path. */
  modelKey: string;
  /** Artifact-store key of its reward model (`{agentId}/{version}/reward_model`). */
  rewardModelKey: string;
  feedbackCount: number;
  rewardMean: number;
  rewardStd: number;
  /** Training results (reward-model validation, final PPO metrics, ...). */
  metrics: Record<string, unknown>;
  /** At most one version per run: a retried save returns the same row. */
  trainingRunId: string;
  createdAt: Date & Opt;
}

export const PolicyVersionSchema = new EntitySchema<PolicyVersion>({
  name: 'PolicyVersion',
  tableName: 'policy_version',
  properties: {
    id: { type: 'uuid', primary: true },
    agentId: { type: 'string', length: 64 },
    version: { type: 'string', length: 32 },
    versionNumber: { type: 'integer' },
    modelKey: { type: 'text' },
    rewardModelKey: { type: 'text' },
    feedbackCount: { type: 'integer' },
    rewardMean: { type: 'double' },
    rewardStd: { type: 'double' },
    metrics: { type: 'json' },
    trainingRunId: { type: 'string', length: 64, unique: 'policy_version_training_run_id_unique' },
    createdAt: { type: 'datetime', length: 6, onCreate: () => new Date() },
  },
  uniques: [{ name: 'policy_version_agent_id_version_number_unique', properties: ['agentId', 'versionNumber'] }],
});
