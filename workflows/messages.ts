/**
 * The training workflow's public contract: its input, its progress shape, and its
 * query/signal definitions. The API imports these constants and never spells a message
 * name itself. Kept free of runtime imports other than @temporalio/workflow's define*
 * helpers, so the API process can import it without pulling in workflow code.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { RunPhase, UpdateMetrics } from '../common/names';

/** Workflow type name, as registered by the CPU worker. */
export const trainingWorkflowType = 'trainPolicyWorkflow';

/** What the API passes when it starts a run. Small: references and knobs only. */
export interface TrainPolicyInput {
  runId: string;
  agentId: string;
  /** Named preset from ml/config (quick | small | medium). */
  preset: string;
  /** Total PPO updates; overrides the preset. */
  maxSteps?: number;
  /** Policy learning rate; overrides the preset. */
  learningRate?: number;
  seed?: number;
  /** Optional Hugging Face base-model directory (issue 7). */
  baseModelDir?: string;
}

export interface CheckpointInfo {
  /** Artifact-store key of the checkpoint directory. */
  ref: string;
  update: number;
}

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

export const progressQuery = defineQuery<RunProgress>('progress');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const setKlSignal = defineSignal<[SetKlArgs]>('setKl');

/** The workflow's result: the seed's `trained` answer, plus run metadata. */
export interface TrainPolicyResult {
  status: 'trained';
  runId: string;
  policyId: string;
  version: string;
  modelPath: string;
  rewardModelPath: string;
  feedbackCount: number;
  trainingSteps: number;
  rewardMean: number;
  rewardStd: number;
}
