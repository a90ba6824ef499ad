/**
 * `training_results.json` (the seed's "training history saved as JSON"): the config a
 * version was trained with, the reward model's validation metrics, the SFT outcome and
 * the per-update PPO metrics, plus a summary computed from that history.
 * Written atomically (temp file + rename) so a crash never leaves half a file.
 */
import { promises as fs } from 'node:fs';
import { atomicWriteFile } from '../storage/atomic-write';
import * as path from 'node:path';
import type { RunConfig } from '../spec/run-config';
import type { UpdateMetrics } from '../common/names';
import { MetricKeys } from '../common/names';
import type { EvaluationReport } from './evaluation';
import type { GuardrailSummary } from '../common/guardrails';

export const TRAINING_RESULTS_FILE = 'training_results.json';
export const TRAINING_RESULTS_FORMAT = 'rlhf-training-results/1';

/** Reward-model validation metrics (normalised scale). */
export interface RewardModelSummary {
  valMse: number;
  valMae: number;
  valPearson: number;
  valSpearman: number;
}

export interface SftSummary {
  finalLoss: number;
  steps: number;
}

/** Derived from the PPO history so readers need not recompute it. */
export interface PpoSummary {
  updates: number;
  /** Mean reward-model score of the first and the last update's rollouts. */
  firstScore: number | null;
  finalScore: number | null;
  /** Mean sequence KL to the reference at the last update. */
  finalKl: number | null;
  finalKlCoef: number | null;
}

export interface TrainingResults {
  format: typeof TRAINING_RESULTS_FORMAT;
  config: RunConfig;
  rewardModel: RewardModelSummary | null;
  sft: SftSummary | null;
  ppo: { summary: PpoSummary; history: UpdateMetrics[] };
  /** The evaluation phase's report (ml/evaluation); null for runs without one. */
  evaluation: EvaluationReport | null;
  /** Guardrail trips and rollbacks (issue 14); null when none. */
  guardrails: GuardrailSummary | null;
}

export interface TrainingResultsInput {
  config: RunConfig;
  rewardModel?: RewardModelSummary | null;
  sft?: SftSummary | null;
  history: readonly UpdateMetrics[];
  evaluation?: EvaluationReport | null;
  guardrails?: GuardrailSummary | null;
}

export function summarizePpoHistory(history: readonly UpdateMetrics[]): PpoSummary {
  const first = history.length > 0 ? history[0] : null;
  const last = history.length > 0 ? history[history.length - 1] : null;
  return {
    updates: history.length,
    firstScore: first ? first[MetricKeys.scores] : null,
    finalScore: last ? last[MetricKeys.scores] : null,
    finalKl: last ? last[MetricKeys.klObjective] : null,
    finalKlCoef: last ? last[MetricKeys.klCoef] : null,
  };
}

export function buildTrainingResults(input: TrainingResultsInput): TrainingResults {
  return {
    format: TRAINING_RESULTS_FORMAT,
    config: input.config,
    rewardModel: input.rewardModel ?? null,
    sft: input.sft ?? null,
    ppo: { summary: summarizePpoHistory(input.history), history: [...input.history] },
    evaluation: input.evaluation ?? null,
    guardrails: input.guardrails ?? null,
  };
}

/** Writes `versionDir/training_results.json` atomically; returns its path. */
export async function writeTrainingResults(versionDir: string, results: TrainingResults): Promise<string> {
  const target = path.join(versionDir, TRAINING_RESULTS_FILE);
  await atomicWriteFile(target, JSON.stringify(results, null, 2) + '\n');
  return target;
}

/** Reads a file written by `writeTrainingResults`; throws RangeError on another format. */
export async function readTrainingResults(versionDir: string): Promise<TrainingResults> {
  const parsed = JSON.parse(await fs.readFile(path.join(versionDir, TRAINING_RESULTS_FILE), 'utf8')) as TrainingResults;
  if (parsed.format !== TRAINING_RESULTS_FORMAT) {
    throw new RangeError(`${TRAINING_RESULTS_FILE} has format '${String(parsed.format)}', expected ${TRAINING_RESULTS_FORMAT}`);
  }
  return parsed;
}
