/**
 * The training run's contract, in one module with no runtime dependencies (issue 16): the
 * workflow's input and result, its progress shape, the checkpoint reference, the failure
 * kinds, the signal arguments and the activities' heartbeat details. The workflow, the
 * activities and the API all read these shapes from here; the query and signal definitions
 * themselves (they need @temporalio/workflow) are workflows/messages.ts.
 */
import type { RunPhase, UpdateMetrics } from '../common/names';
import type { EvaluationReport } from '../common/evaluation-report';

/** Workflow type name, as registered by the CPU worker. */
export const trainingWorkflowType = 'trainPolicyWorkflow';

/** What the API passes when it starts a run. Small: references and knobs only. */
export interface TrainPolicyInput {
  runId: string;
  agentId: string;
  /** Named preset from spec/run-config (quick | small | medium). */
  preset: string;
  /** Total PPO updates; overrides the preset. */
  maxSteps?: number;
  /** Policy learning rate; overrides the preset. */
  learningRate?: number;
  seed?: number;
  /**
   * Hugging Face GPT-2-family model directory to start from (issue 7), already resolved inside
   * the operator's allowed root by the API. The policy (LoRA on the frozen base; the reference is
   * the base) and the tokenizer come from it, and the SFT warm start is skipped.
   */
  baseModelDir?: string;
  /**
   * A GPT-2-family base by Hugging Face Hub id (`gpt2`, `org/name`, revision default `main`),
   * instead of `baseModelDir`: the activities that need it download and verify it into the
   * worker's cache (hub/hf-hub), then use it exactly as a baseModelDir.
   */
  baseModel?: { repo: string; revision?: string };
  /**
   * A JSON patch deep-merged into the resolved preset after maxSteps/learningRate/seed
   * (objects merge, everything else replaces; the patch wins), e.g. `{ policyModel: { nLayer: 1 } }`. For tests and experts; the
   * resolveConfig activity validates the result and rejects unknown fields.
   */
  configPatch?: ConfigPatch;
  /** false: train the reward model even when an earlier run's was trained on the same rows and config (default: reuse it). */
  reuseRewardModel?: boolean;
  /** Train only on feedback attributed to these policy versions (e.g. ["v3"]); absent: all of the agent's feedback. */
  feedbackVersions?: string[];
  /**
   * Activity task queues, when not the shared TaskQueues (tests use unique ones; a deployment
   * may dedicate a GPU pool to some agents). The workflow itself runs where it was started.
   */
  taskQueues?: { cpu?: string; gpu?: string };
  /** PPO chunks per workflow execution before continue-as-new (default 20); keeps history small. */
  chunksPerExecution?: number;
  /**
   * heartbeatTimeout of the training activities, ms: how soon a killed GPU worker is noticed
   * and its work retried elsewhere. Default (workflows/training-run `trainingHeartbeatTimeoutMs`):
   * 10 s for quick and small, 60 s for medium, 300 s with a `baseModelDir`. It must exceed 1.5 ×
   * the longest synchronous stretch of the run's training (activities/heartbeat); the API sets
   * it from RLHF_TRAINING_HEARTBEAT_TIMEOUT_S.
   */
  trainingHeartbeatTimeoutMs?: number;
  /** State carried across continue-as-new. Set only by the workflow itself. */
  continuation?: RunContinuation;
}

/** A JSON object patch (see TrainPolicyInput.configPatch). */
export interface ConfigPatch {
  [key: string]: ConfigPatchValue;
}
export type ConfigPatchValue = string | number | boolean | null | ConfigPatchValue[] | ConfigPatch;

/**
 * Failure `type`s the activities and the workflow throw as ApplicationFailure. Bad data or
 * config is non-retryable (retrying cannot fix it); anything else is retried.
 */
export const TrainingFailureTypes = {
  /** The resolved run configuration is inconsistent (ConfigError from spec/run-config). */
  invalidConfig: 'InvalidConfig',
  /** Fewer feedback rows than the minimum, or a row with an unusable score. */
  invalidFeedback: 'InvalidFeedback',
  /** The reward model's validation Pearson is below the configured threshold. */
  qualityGateFailed: 'QualityGateFailed',
  /** An artifact the step needs (dataset, reward model, checkpoint) is missing or corrupt. */
  missingArtifact: 'MissingArtifact',
  /** PPO produced a non-finite metric; a retry from the same checkpoint would repeat it. */
  trainingDiverged: 'TrainingDiverged',
  /** The PPO health check tripped `guard.maxTrips` times; the message names the last trip. */
  guardrailTripped: 'GuardrailTripped',
} as const;
export type TrainingFailureType = (typeof TrainingFailureTypes)[keyof typeof TrainingFailureTypes];
/** Types a retry policy must not retry. */
export const NON_RETRYABLE_FAILURE_TYPES: readonly TrainingFailureType[] = Object.values(TrainingFailureTypes);

/** What the run's data preparation measured; small numbers only. */
export interface DatasetSummary {
  feedbackCount: number;
  scoreMean: number;
  scoreStd: number;
  trainCount: number;
  valCount: number;
}

/** Everything a continued execution needs to pick up where the previous one stopped. */
export interface RunContinuation {
  /** Workflow time (ms since epoch) when the first execution started. */
  startedAtMs: number;
  /** Artifact-store key of the resolved RunConfig JSON. */
  configRef: string;
  totalUpdates: number;
  updatesPerChunk: number;
  dataset: DatasetSummary;
  /** Artifact-store keys of the training and validation rows (JSONL). */
  trainRef: string;
  valRef: string;
  rewardModelRef: string;
  rewardModel: RunProgress['rewardModel'];
  /** The earlier run whose reward model this run reuses; absent when it trained its own (and in older runs). */
  rewardModelReusedFrom?: string;
  /** Artifact-store key of the policy PPO starts from (SFT-trained, or the base), and how SFT went (null: no SFT, a base run). */
  policyInitRef: string;
  sft: { finalLoss: number; steps: number } | null;
  lastCheckpoint: CheckpointInfo | null;
  /** Checkpoints rejected on resume so far (newest last, at most MAX_RECOVERIES_SHOWN); absent in older runs. */
  recoveries?: CheckpointRecovery[];
  /** Guardrail trips so far (issue 14); absent when none and in older runs. */
  guardrails?: GuardrailSummary;
  /** Measured workflow-time duration (ms) and update count of each PPO chunk so far. */
  chunkTimings: ChunkTiming[];
  latestMetrics: Partial<UpdateMetrics> | null;
  klCoef: number | null;
  klTarget: number | null;
  /** A setKl request not yet handed to a chunk. */
  pendingKl: SetKlArgs | null;
  paused: boolean;
}

export interface ChunkTiming {
  updates: number;
  durationMs: number;
}

export interface CheckpointInfo {
  /** Artifact-store key of the checkpoint directory. */
  ref: string;
  update: number;
}

/** Guardrail events (issue 14); defined with the health check they report. */
export type { GuardrailEvent, GuardrailSummary } from '../common/guardrails';
import type { GuardrailSummary } from '../common/guardrails';

/** Progress and the workflow keep this many guardrail events (the newest); the guard state on disk keeps the same. */
export const MAX_GUARDRAIL_EVENTS_SHOWN = 20;

/** A checkpoint a PPO chunk refused (checksum mismatch or torn write) and where it resumed instead. */
export interface CheckpointRecovery {
  /** Update number of the rejected checkpoint. */
  rejectedUpdate: number;
  /** Update the chunk resumed from instead (0: from the initial policy). */
  resumedFromUpdate: number;
}

/** Progress keeps this many recoveries (the newest); older ones stay in the workers' logs. */
export const MAX_RECOVERIES_SHOWN = 10;

/** Answer of the `progress` query. Pure data, computed from workflow state. */
export interface RunProgress {
  runId: string;
  agentId: string;
  phase: RunPhase;
  paused: boolean;
  /** Step within the current phase, and its total. */
  step: number;
  total: number;
  /** Milliseconds since the run started, and the estimated remaining ms (null until known). */
  elapsedMs: number;
  etaMs: number | null;
  latestMetrics: Partial<UpdateMetrics> | null;
  lastCheckpoint: CheckpointInfo | null;
  /** Corrupt or torn checkpoints the run skipped when resuming, and where it resumed instead. */
  checkpointRecoveries: CheckpointRecovery[];
  /** What the reward_model phase did: `reward_model (reused from run …)` or `reward_model (trained)`; null before it ended. */
  rewardModelPhase: string | null;
  /** Guardrail trips (rollbacks to the last healthy checkpoint); null when none. */
  guardrails: GuardrailSummary | null;
  rewardModel: { valMse: number; valMae: number; valPearson: number; valSpearman: number } | null;
  klCoef: number | null;
  klTarget: number | null;
  error: string | null;
}

export interface SetKlArgs {
  /** New KL coefficient (β). */
  coef?: number;
  /** New target KL for the adaptive controller. */
  target?: number;
}

/** The workflow's result: the seed's `trained` answer, plus run metadata. */
export interface TrainPolicyResult {
  status: 'trained';
  runId: string;
  policyId: string;
  version: string;
  modelKey: string;
  rewardModelKey: string;
  feedbackCount: number;
  trainingSteps: number;
  rewardMean: number;
  rewardStd: number;
  /**
   * The evaluation phase's report (ml/evaluation): start vs final policy on held-out prompts.
   * `verdict` is `not_improved` when the final policy does not beat its start on the reward
   * model (or is degenerate); the policy is saved either way. Absent for runs that started
   * before the phase existed.
   */
  evaluation?: EvaluationReport;
}

/** A PPO chunk's heartbeat details: enough for a retried attempt to resume. */
export interface PpoHeartbeat {
  update: number;
  checkpointRef: string;
}

/** The reward-model and SFT activities' heartbeat details, one per finished epoch (the API shows them as progress). */
export interface EpochHeartbeat {
  /** 0-based epoch just finished. */
  epoch: number;
  epochs: number;
}
