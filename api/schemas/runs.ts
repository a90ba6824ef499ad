/** Training-run schemas: the train request, dry-run and start answers, run view and controls. */
import { Type, type Static } from 'typebox';
import { PRESET_NAMES } from '../../spec/run-config';
import { HUB_REPO_ID_PATTERN, HUB_REVISION_PATTERN } from '../../hub/hf-hub';
import { EvaluationVerdicts, RunPhases } from '../../common/names';
import { TrainingRunStatuses } from '../../db/entities';
import type { RunProgress, TrainPolicyResult } from '../../contract/run-contract';
import { VersionLabel } from './deployments';

export const DEFAULT_PRESET = 'quick';

export const TrainBody = Type.Object(
  {
    dryRun: Type.Optional(Type.Boolean({ default: false })),
    maxSteps: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'Total PPO updates' })),
    learningRate: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'PPO learning rate' })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, description: 'Seed of every RNG in the run (same seed, config and data: same weights)' })),
    preset: Type.Optional(
      Type.Union(
        PRESET_NAMES.map((p) => Type.Literal(p)),
        // quick: the one preset that finishes in minutes on CPU-only hosts; pick small/medium explicitly.
        { default: DEFAULT_PRESET },
      ),
    ),
    feedbackVersions: Type.Optional(
      Type.Array(VersionLabel, {
        minItems: 1,
        maxItems: 32,
        uniqueItems: true,
        description: 'Train only on feedback attributed to these policy versions (rows posted with their requestId or policyVersion); default: all of the agent\'s feedback',
      }),
    ),
    reuseRewardModel: Type.Optional(
      Type.Boolean({ description: 'Reuse an earlier run\'s reward model trained on the same feedback and reward-model config (default true); false retrains' }),
    ),
    baseModelDir: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description:
          'Hugging Face GPT-2-family model directory to start from, relative to the server\'s RLHF_BASE_MODEL_ROOT (LoRA on the frozen base; the base\'s tokenizer). 400 unless it is a model directory inside that root.',
      }),
    ),
    baseModel: Type.Optional(
      Type.String({
        pattern: HUB_REPO_ID_PATTERN,
        maxLength: 193,
        description:
          'GPT-2-family base by Hugging Face Hub id (e.g. "gpt2", "distilgpt2", "org/name"), instead of baseModelDir: downloaded (resumable, sha256-verified) into the workers\' cache from HF_ENDPOINT, then used as a baseModelDir. 400 when the hub has no such model.',
      }),
    ),
    baseModelRevision: Type.Optional(
      Type.String({ pattern: HUB_REVISION_PATTERN, maxLength: 128, description: 'Branch, tag or commit of baseModel (default "main").' }),
    ),
  },
  { additionalProperties: false },
);

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const ModelConfigView = Type.Object({
  vocabSize: Type.Integer(),
  blockSize: Type.Integer(),
  nLayer: Type.Integer(),
  nHead: Type.Integer(),
  nEmbd: Type.Integer(),
  dropout: Type.Number(),
  lora: Type.Object({ rank: Type.Integer(), alpha: Type.Number(), dropout: Type.Number() }),
});

export const DryRunBody = Type.Object({
  status: Type.Literal('dry_run'),
  feedbackCount: Type.Integer(),
  estimatedSteps: Type.Integer(),
  estimatedOptimizerSteps: Type.Integer(),
  estimatedTimeMinutes: Type.Number(),
  estimatedFlops: Type.Number(),
  scoreMean: Type.Number(),
  scoreStd: Type.Number(),
  modelConfig: Type.Object({
    preset: Type.String(),
    /** byte, bpe (trained on the training split, as the run will) or base (the base model's own). */
    tokenizer: Type.Object({ kind: Type.Union([Type.Literal('byte'), Type.Literal('bpe'), Type.Literal('base')]), vocabSize: Type.Integer() }),
    policy: ModelConfigView,
    rewardModel: ModelConfigView,
    parameters: Type.Object({ policy: Type.Integer(), rewardModel: Type.Integer() }),
  }),
  /** Token lengths of the feedback (95th/5th percentiles) and the lengths derived from them; null on a pretrained base. */
  lengths: Nullable(
    Type.Object({
      promptP95: Type.Integer(),
      responseP5: Type.Integer(),
      responseP95: Type.Integer(),
      maxNewTokens: Type.Integer(),
      minNewTokens: Type.Integer(),
      blockSize: Type.Integer(),
    }),
  ),
});

const RunLinks = Type.Object({
  self: Type.String(),
  progress: Type.String(),
  pause: Type.String(),
  resume: Type.String(),
  cancel: Type.String(),
  kl: Type.String(),
});

export const RunStartedBody = Type.Object({
  runId: Type.String(),
  workflowId: Type.String(),
  status: Type.Literal('started'),
  links: RunLinks,
});


export const RunProgressView = Type.Object({
  runId: Type.String(),
  agentId: Type.String(),
  phase: Type.Enum(RunPhases),
  paused: Type.Boolean(),
  step: Type.Number(),
  total: Type.Number(),
  elapsedMs: Type.Number(),
  etaMs: Nullable(Type.Number()),
  latestMetrics: Nullable(Type.Record(Type.String(), Type.Number())),
  lastCheckpoint: Nullable(Type.Object({ ref: Type.String(), update: Type.Number() })),
  checkpointRecoveries: Type.Array(Type.Object({ rejectedUpdate: Type.Number(), resumedFromUpdate: Type.Number() })),
  rewardModelPhase: Nullable(Type.String()),
  guardrails: Nullable(
    Type.Object({
      trips: Type.Number(),
      events: Type.Array(
        Type.Object({
          kind: Type.Literal('guardrail'),
          trip: Type.Number(),
          update: Type.Number(),
          condition: Type.String(),
          message: Type.String(),
          values: Type.Record(Type.String(), Nullable(Type.Number())),
          rolledBackTo: Type.Object({ update: Type.Number(), ref: Nullable(Type.String()) }),
          remedy: Type.Object({ kind: Type.String(), learningRateScale: Type.Number(), temperature: Type.Number(), klCoef: Type.Number() }),
        }),
      ),
    }),
  ),
  rewardModel: Nullable(
    Type.Object({ valMse: Type.Number(), valMae: Type.Number(), valPearson: Type.Number(), valSpearman: Type.Number() }),
  ),
  klCoef: Nullable(Type.Number()),
  klTarget: Nullable(Type.Number()),
  error: Nullable(Type.String()),
});

const IntervalView = Type.Object({ mean: Type.Number(), lo: Type.Number(), hi: Type.Number() });
const PolicyEvaluationView = Type.Object({
  rewardMean: IntervalView,
  klToReference: IntervalView,
  responseLength: IntervalView,
  emptyFraction: Type.Number(),
  distinct1: Type.Number(),
  distinct2: Type.Number(),
});

/** The evaluation phase's report (ml/evaluation.ts): start vs final policy on held-out prompts. */
export const EvaluationView = Type.Object({
  prompts: Type.Number(),
  samplesPerPrompt: Type.Number(),
  seed: Type.Number(),
  start: PolicyEvaluationView,
  final: PolicyEvaluationView,
  rewardGain: IntervalView,
  winRate: IntervalView,
  significant: Type.Boolean(),
  verdict: Type.Enum(EvaluationVerdicts),
  reason: Nullable(Type.String()),
  pairs: Type.Array(
    Type.Object({ prompt: Type.String(), start: Type.String(), final: Type.String(), startReward: Type.Number(), finalReward: Type.Number() }),
  ),
});

export const TrainResultView = Type.Object({
  status: Type.Literal('trained'),
  runId: Type.String(),
  policyId: Type.String(),
  version: Type.String(),
  modelKey: Type.String({ description: 'Artifact-store key of the saved policy, e.g. "agent-1/v3/policy" (relative to the store; never a server path)' }),
  rewardModelKey: Type.String({ description: 'Artifact-store key of the reward model saved with it, e.g. "agent-1/v3/reward_model"' }),
  feedbackCount: Type.Number(),
  trainingSteps: Type.Number(),
  rewardMean: Type.Number(),
  rewardStd: Type.Number(),
  /** Absent for runs that started before the evaluation phase existed. */
  evaluation: Type.Optional(EvaluationView),
});

// The views above restate workflow contracts for serialisation; these lines fail to compile if they drift.
type AssertSame<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const progressInSync: AssertSame<Omit<Static<typeof RunProgressView>, 'latestMetrics'>, Omit<RunProgress, 'latestMetrics'>> = true;
const resultInSync: AssertSame<Static<typeof TrainResultView>, TrainPolicyResult> = true;
void progressInSync;
void resultInSync;

export const RunView = Type.Object({
  runId: Type.String(),
  workflowId: Type.String(),
  agentId: Type.String(),
  status: Type.Enum(TrainingRunStatuses),
  config: Type.Record(Type.String(), Type.Unknown()),
  error: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  finishedAt: Nullable(Type.String({ format: 'date-time' })),
  /** Temporal's execution status (RUNNING, COMPLETED, ...), or null when Temporal could not be asked. */
  workflowStatus: Nullable(Type.String()),
  /** Live answer of the progress query; null before a worker has picked the run up, or after it closed. */
  progress: Nullable(RunProgressView),
  /** Why progress is null, when it is. */
  progressUnavailable: Nullable(Type.String()),
  /** The workflow result (the seed's `trained` answer) once completed. */
  result: Nullable(TrainResultView),
  links: RunLinks,
});

export const RunAccepted = Type.Object({ runId: Type.String(), status: Type.Literal('accepted'), action: Type.String() });

export const KlBody = Type.Object(
  {
    coef: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'New KL coefficient β' })),
    target: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'New adaptive-controller target KL' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export function runLinks(runId: string) {
  const self = `/api/runs/${runId}`;
  return { self, progress: self, pause: `${self}/pause`, resume: `${self}/resume`, cancel: `${self}/cancel`, kl: `${self}/kl` };
}
