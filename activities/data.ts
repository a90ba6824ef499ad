/**
 * Data activities (CPU queue): resolve the run config, load and split feedback, save the
 * trained policy as a version, keep the run record's status, and gate scheduled runs
 * (activities/scheduled-run.ts). Each uses its own forked
 * EntityManager; only artifact-store keys and small numbers cross Temporal payloads.
 */
import { log as temporalLog } from '@temporalio/activity';
import { resolveRunConfig, validateRunConfig, type PresetName, type RunConfig } from '../spec/run-config';
import { dataAwareConfig, type DataAwareConfig } from '../spec/data-aware-config';
import type { FeedbackExample } from '../spec/train-val-split';
import { mean, std } from '../ml/stats';
import { FeedbackRepository } from '../db/repositories/feedback-repository';
import { PolicyVersionRepository, versionLabel } from '../db/repositories/policy-version-repository';
import { TrainingRunRepository } from '../db/repositories/training-run-repository';
import type { PolicyVersion, TrainingRunStatus } from '../db/entities';
import { policyKey, runArtifacts } from '../storage/artifact-keys';
import { buildTrainingResults, writeTrainingResults, type SftSummary } from '../ml/training-results';
import type { ConfigPatch, DatasetSummary, GuardrailSummary, RunProgress } from '../contract/run-contract';
import { RunPhases, type UpdateMetrics } from '../common/names';
import type { EvaluationReport } from '../ml/evaluation';
import { storableJson } from '../common/storable-json';
import { runConfigForBase } from '../spec/base-model';
import { HF_ERROR_NAMES } from '../spec/hf-errors';
import type { Gpt2HfConfig } from '../spec/hf-model-config';
import { readGpt2Config } from '../spec/hf-model-config';
import type { HubModelRef } from '../hub/hf-hub';
import { baseModelDirOf } from './base-model';
import { applyConfigPatch } from './config-patch';
import { ACTIVITY_DEFAULTS, type ActivityDeps } from './deps';
import { classified, invalidConfig, invalidFeedback } from './errors';
import { readJsonl, writeJsonl } from './jsonl';
import { NO_RUN_EVENTS } from './run-events';
import { createScheduledRunActivities } from './scheduled-run';

export interface ResolveConfigInput {
  runId: string;
  preset: string;
  maxSteps?: number;
  learningRate?: number;
  seed?: number;
  configPatch?: ConfigPatch;
  /** Hugging Face base directory: the policy takes its shape (spec/base-model `runConfigForBase`). */
  baseModelDir?: string;
  /** The base by hub id instead: only its config.json is fetched here (activities/base-model). */
  baseModel?: HubModelRef;
}

/** The numbers the workflow orchestrates by; the full config stays in the store. */
export interface RunPlan {
  configRef: string;
  totalUpdates: number;
  updatesPerChunk: number;
  minValPearson: number;
  klCoef: number;
  klTarget: number;
}

export interface LoadFeedbackResult {
  datasetRef: string;
  count: number;
  scoreMean: number;
  scoreStd: number;
}

export interface SplitDatasetResult {
  trainRef: string;
  valRef: string;
  trainCount: number;
  valCount: number;
}

export interface SavePolicyInput {
  runId: string;
  agentId: string;
  configRef: string;
  /** Run-scoped key of the exported final policy (exportPolicy). */
  policyRef: string;
  rewardModelRef: string;
  dataset: DatasetSummary;
  trainingSteps: number;
  rewardModel: RunProgress['rewardModel'];
  sft: SftSummary | null;
  latestMetrics: Partial<UpdateMetrics> | null;
  /** Mean and std of the final policy's reward on held-out prompts (exportPolicy). */
  rewardMean: number;
  rewardStd: number;
  /** The evaluation phase's report (absent for runs that started before it existed). */
  evaluation?: EvaluationReport;
  /** Guardrail trips of the run (issue 14); absent when none. */
  guardrails?: GuardrailSummary;
}

export interface SavedPolicy {
  policyId: string;
  version: string;
  modelKey: string;
  rewardModelKey: string;
  rewardMean: number;
  rewardStd: number;
}

export interface SetRunStatusInput {
  runId: string;
  status: TrainingRunStatus;
  error?: string;
}

/** Whether a config patch sets a length the data would otherwise decide (spec/data-lengths). */
function setsLengths(patch: ConfigPatch | undefined): boolean {
  const p = patch as { policyModel?: { blockSize?: unknown }; reward?: { model?: { blockSize?: unknown } }; ppo?: { generation?: Record<string, unknown> } } | undefined;
  return (
    p?.policyModel?.blockSize !== undefined ||
    p?.reward?.model?.blockSize !== undefined ||
    p?.ppo?.generation?.maxNewTokens !== undefined ||
    p?.ppo?.generation?.minNewTokens !== undefined
  );
}

/** Resolves preset + overrides + patch into a validated RunConfig. Throws InvalidConfig. */
export function buildRunConfig(input: ResolveConfigInput): RunConfig {
  try {
    const base = resolveRunConfig(input.preset as PresetName, {
      maxSteps: input.maxSteps,
      learningRate: input.learningRate,
      seed: input.seed,
    });
    const cfg = applyConfigPatch(base, input.configPatch);
    if (setsLengths(input.configPatch) && (input.configPatch as { lengthsFromData?: unknown }).lengthsFromData === undefined) {
      cfg.lengthsFromData = false; // the request's lengths win over the data's
    }
    validateRunConfig(cfg);
    for (const [field, value] of [['ppo.totalUpdates', cfg.ppo.totalUpdates], ['updatesPerChunk', cfg.updatesPerChunk]] as const) {
      if (!Number.isInteger(value) || value < 1) throw invalidConfig(`${field} must be a positive integer, got ${value}`);
    }
    return cfg;
  } catch (err) {
    if (err instanceof Error && err.name === 'ConfigError') throw invalidConfig(err.message, err);
    throw err;
  }
}

export function createDataActivities(deps: ActivityDeps) {
  const { orm, store } = deps;
  const log = deps.log ?? temporalLog;
  const minRows = deps.minFeedbackRows ?? ACTIVITY_DEFAULTS.minFeedbackRows;
  const keepRunArtifacts = deps.keepRunArtifacts ?? ACTIVITY_DEFAULTS.keepRunArtifacts;

  /**
   * Retention (issue 17): once the version exists, the run's copies of the feedback and its
   * checkpoints have served their purpose (the version holds the merged policy; evaluation
   * ran before the save). Idempotent, so the early return of a retried save runs it too.
   */
  async function removeRunCopies(runId: string): Promise<void> {
    if (keepRunArtifacts) return;
    await store.remove(runArtifacts.datasetDir(runId));
    await store.remove(runArtifacts.checkpoints(runId));
  }
  const events = deps.runEvents ?? NO_RUN_EVENTS;

  return {
    // The scheduled-retraining gate reads Postgres like the activities below (issue 14 item 5).
    ...createScheduledRunActivities(deps),
    /** Resolves and stores the run's config; returns the plan the workflow needs. */
    async resolveConfig(input: ResolveConfigInput): Promise<RunPlan> {
      await events.phase(input.runId, RunPhases.loadFeedback);
      const resolved = buildRunConfig(input);
      const baseDir = await withHubErrors(() => baseModelDirOf(input, 'config'));
      const cfg = baseDir === undefined ? resolved : runConfigForBase(resolved, await readBaseConfig(baseDir));
      const configRef = runArtifacts.config(input.runId);
      await store.writeJson(configRef, cfg);
      return {
        configRef,
        totalUpdates: cfg.ppo.totalUpdates,
        updatesPerChunk: cfg.updatesPerChunk,
        minValPearson: cfg.gate.minValPearson,
        klCoef: cfg.ppo.initKlCoef,
        klTarget: cfg.ppo.klTarget,
      };
    },

    /** Snapshots the agent's feedback as JSONL, so retries and later phases see the same rows. */
    async loadFeedback(input: { runId: string; agentId: string; versions?: string[] }): Promise<LoadFeedbackResult> {
      const rows = await new FeedbackRepository(orm.em.fork()).listForTraining(input.agentId, input.versions);
      if (rows.length < minRows) {
        const which = input.versions ? ` attributed to ${input.versions.join(', ')}` : '';
        throw invalidFeedback(`agent ${input.agentId} has ${rows.length} feedback rows${which}; training needs at least ${minRows}`, {
          count: rows.length,
          minRows,
        });
      }
      const bad = rows.findIndex((r) => !Number.isFinite(r.score));
      if (bad >= 0) throw invalidFeedback(`feedback row ${bad} has a non-finite score`, { row: bad });
      const datasetRef = runArtifacts.dataset(input.runId);
      await writeJsonl(store, datasetRef, rows);
      const scores = rows.map((r) => r.score);
      log.info('feedback loaded', { runId: input.runId, count: rows.length });
      return { datasetRef, count: rows.length, scoreMean: mean(scores), scoreStd: std(scores) };
    },

    /**
     * Seeded train/validation split (the seed's 80/20 by default). The run's config is rewritten
     * here with what the feedback decides (spec/data-aware-config): the BPE tokenizer trained on the
     * training split, and with `lengthsFromData` the lengths; the same rows give the same config,
     * so a retry writes the same file.
     */
    async splitDataset(input: { runId: string; datasetRef: string; configRef: string }): Promise<SplitDatasetResult> {
      return classified(async () => {
        await events.phase(input.runId, RunPhases.splitDataset);
        const stored = await store.readJson<RunConfig>(input.configRef);
        const rows = await readJsonl<FeedbackExample>(store, input.datasetRef);
        const { config: cfg, split } = dataAwareConfigOrInvalid(stored, rows);
        if (cfg !== stored) {
          await store.writeJson(input.configRef, cfg);
          log.info('tokenizer and lengths from the data', {
            runId: input.runId,
            tokenizer: cfg.tokenizer?.kind ?? 'byte',
            vocabSize: cfg.policyModel.vocabSize,
            blockSize: cfg.policyModel.blockSize,
            generation: cfg.ppo.generation,
          });
        }
        const { train, val } = split;
        if (val.length === 0) throw invalidFeedback('too few rows for a validation split', { count: rows.length });
        const trainRef = runArtifacts.train(input.runId);
        const valRef = runArtifacts.val(input.runId);
        await writeJsonl(store, trainRef, train);
        await writeJsonl(store, valRef, val);
        return { trainRef, valRef, trainCount: train.length, valCount: val.length };
      });
    },

    /**
     * Creates the PolicyVersion row (idempotent per run: a retry gets the same row and
     * version), then copies the policy and reward model into the seed layout
     * `{agentId}/{version}/policy/`, `reward_model/`, `training_results.json`.
     */
    async savePolicy(input: SavePolicyInput): Promise<SavedPolicy> {
      return classified(async () => {
        const repo = new PolicyVersionRepository(orm.em.fork());
        const existing = await repo.findByRun(input.runId);
        // The row is created only after its files are in place, so an existing row is complete.
        if (existing) {
          await removeRunCopies(input.runId);
          return savedPolicyOf(existing);
        }
        const version = versionLabel(((await repo.listByAgent(input.agentId))[0]?.versionNumber ?? 0) + 1);
        const modelKey = policyKey(input.agentId, version, 'policy');
        const rewardKey = policyKey(input.agentId, version, 'reward_model');
        await replaceDir(deps, input.policyRef, modelKey);
        await replaceDir(deps, input.rewardModelRef, rewardKey);
        const history: UpdateMetrics[] = [];
        for (let u = 1; u <= input.trainingSteps; u++) history.push(await store.readJson<UpdateMetrics>(runArtifacts.metrics(input.runId, u)));
        const config = await store.readJson<RunConfig>(input.configRef);
        const results = buildTrainingResults({ config, rewardModel: input.rewardModel, sft: input.sft, history, evaluation: input.evaluation, guardrails: input.guardrails ?? null });
        await writeTrainingResults(store.resolve(policyKey(input.agentId, version)), results);
        const row = await repo.saveForRun({
          agentId: input.agentId,
          trainingRunId: input.runId,
          // Store keys, never this worker's paths: any process with the store can open them.
          modelKey,
          rewardModelKey: rewardKey,
          feedbackCount: input.dataset.feedbackCount,
          rewardMean: input.rewardMean,
          rewardStd: input.rewardStd,
          metrics: policyMetrics(input),
        });
        // One active run per agent (DB index) makes a different allocation a bug worth seeing.
        if (row.version !== version) log.warn('policy version differs from its directory', { expected: version, got: row.version });
        await removeRunCopies(input.runId);
        log.info('policy saved', { runId: input.runId, agentId: input.agentId, version: row.version });
        return savedPolicyOf(row);
      });
    },

    /** Sets the run record's status (and error text for `failed`). */
    async setRunStatus(input: SetRunStatusInput): Promise<void> {
      await new TrainingRunRepository(orm.em.fork()).setStatus(input.runId, input.status, input.error);
    },
  };
}

/** spec/data-aware-config's tokenizer, lengths and split; data that cannot fit is a non-retryable InvalidConfig. */
function dataAwareConfigOrInvalid(cfg: RunConfig, rows: readonly FeedbackExample[]): DataAwareConfig {
  try {
    return dataAwareConfig(cfg, rows);
  } catch (err) {
    if (err instanceof Error && err.name === 'ConfigError') throw invalidConfig(err.message, err);
    throw err;
  }
}

/** The version's `metrics` JSON: what the policy list shows and training_results.json keeps. */
function policyMetrics(input: SavePolicyInput): Record<string, unknown> {
  return {
    rewardMean: input.rewardMean,
    rewardStd: input.rewardStd,
    trainingSteps: input.trainingSteps,
    dataset: input.dataset,
    rewardModel: input.rewardModel,
    ppo: input.latestMetrics,
    // Its sample pairs are generated text, which can hold NUL (jsonb refuses it).
    ...(input.evaluation ? { evaluation: storableJson(input.evaluation) } : {}),
    ...(input.guardrails ? { guardrails: { trips: input.guardrails.trips } } : {}),
  };
}

function savedPolicyOf(row: PolicyVersion): SavedPolicy {
  return {
    policyId: row.id,
    version: row.version,
    modelKey: row.modelKey,
    rewardModelKey: row.rewardModelKey,
    rewardMean: row.rewardMean,
    rewardStd: row.rewardStd,
  };
}

/** config.json of a base-model directory; an unreadable or unsupported one is a non-retryable InvalidConfig. */
/** A hub id that does not exist is bad config (non-retryable); transfer errors stay retryable. */
async function withHubErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof Error && HF_ERROR_NAMES.has(err.name)) throw invalidConfig(`base model: ${err.message}`, err);
    throw err;
  }
}

async function readBaseConfig(dir: string): Promise<Gpt2HfConfig> {
  try {
    return await readGpt2Config(dir);
  } catch (err) {
    if (err instanceof Error && HF_ERROR_NAMES.has(err.name)) throw invalidConfig(`base model: ${err.message}`, err);
    throw err;
  }
}

/** Copies a directory to `toKey`, replacing what a failed earlier attempt may have left. */
async function replaceDir(deps: ActivityDeps, fromKey: string, toKey: string): Promise<void> {
  if (await deps.store.exists(toKey)) await deps.store.remove(toKey);
  await deps.store.copyDir(fromKey, toKey);
}
