/** Policy-version listing schema (the seed's PolicyVersion plus metrics). */
import { Type } from 'typebox';

export const PolicyVersionView = Type.Object({
  id: Type.String(),
  agentId: Type.String(),
  version: Type.String({ description: 'The seed\'s version string, e.g. "v3"' }),
  versionNumber: Type.Integer(),
  modelPath: Type.String(),
  rewardModelPath: Type.String(),
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
