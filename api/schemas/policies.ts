/** Policy-version listing schema (the seed's PolicyVersion plus metrics). */
import { Type } from 'typebox';

export const PolicyVersionView = Type.Object({
  id: Type.String(),
  agentId: Type.String(),
  version: Type.String({ description: 'The seed\'s version string, e.g. "v3"' }),
  versionNumber: Type.Integer(),
  modelKey: Type.String({ description: 'Artifact-store key of the saved policy, e.g. "agent-1/v3/policy" (relative to the store; never a server path)' }),
  rewardModelKey: Type.String({ description: 'Artifact-store key of the reward model saved with it, e.g. "agent-1/v3/reward_model"' }),
  feedbackCount: Type.Integer(),
  rewardMean: Type.Number(),
  rewardStd: Type.Number(),
  trainingRunId: Type.String(),
  metrics: Type.Record(Type.String(), Type.Unknown(), { description: 'Training results, e.g. metrics.rewardMean' }),
  createdAt: Type.String({ format: 'date-time' }),
});

export const PolicyListBody = Type.Object({
  agentId: Type.String(),
  /** Newest first. */
  policies: Type.Array(PolicyVersionView),
});
