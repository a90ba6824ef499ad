/**
 * Training activities (GPU queue): reward model, SFT warm start, PPO chunks and the final
 * policy export. They read their inputs from the artifact store by key and write their
 * outputs back; only keys and small metrics are returned. Long loops heartbeat, which is
 * also how a cancellation reaches them (Temporal delivers cancels only on heartbeat).
 */
import { storableJson } from '../common/storable-json';
import { Context, CancelledFailure } from '@temporalio/activity';
import { log as temporalLog } from '@temporalio/activity';
import { DEFAULT_EVALUATION, type RunConfig } from '../spec/run-config';
import { evaluatePolicies, type EvaluationReport } from '../ml/evaluation';
import type { FeedbackExample } from '../spec/train-val-split';
import { GptModel } from '../ml/model';
import { HF_ERROR_NAMES } from '../spec/hf-errors';
import { loadHfModelDir } from '../ml/hf/load';
import type { HubModelRef } from '../hub/hf-hub';
import { baseModelDirOf } from './base-model';
import { generateText, readPolicyHfConfig, savePolicy as writePolicyDir } from '../ml/policy-export';
import { saveRewardModel, trainRewardModel as fitRewardModel } from '../ml/reward-model';
import { Rng } from '../ml/rng';
import { trainSft } from '../ml/sft';
import { yieldToEventLoop } from '../ml/event-loop';
import { mean, std } from '../ml/stats';
import type { Tokenizer } from '../ml/tokenizer';
import { runTokenizer } from '../ml/run-tokenizer';
import type { CheckpointInfo, EpochHeartbeat, RunProgress } from '../contract/run-contract';
import { runArtifacts } from '../storage/artifact-keys';
import { type ActivityDeps } from './deps';
import { classified, invalidConfig } from './errors';
import { heartbeatTickMs, heartbeatingStopCheck, withHeartbeatTicker } from './heartbeat';
import { readJsonl } from './jsonl';
import { createPpoRuntime, type PpoChunkInput } from './ppo-chunk';
import { findReusableRewardModel, recordRewardModel, rewardModelFingerprint } from './reward-model-reuse';
import { NO_RUN_EVENTS } from './run-events';
import { RunPhases } from '../common/names';

export interface TrainRewardModelInput {
  runId: string;
  configRef: string;
  trainRef: string;
  valRef: string;
  /** Hugging Face base of the run: the reward model starts from it (LoRA on the frozen base) and reads its BPE ids. */
  baseModelDir?: string;
  /** The base by hub id instead (activities/base-model). */
  baseModel?: HubModelRef;
  /** The run's agent: with it, an earlier run's reward model trained on the same rows and config is reused (reward-model-reuse.ts). */
  agentId?: string;
  /** false forces training even when a reusable reward model exists (the train request's `reuseRewardModel`). */
  reuse?: boolean;
}

export interface BasePolicyInitInput {
  runId: string;
  configRef: string;
  /** One of the two: the base's directory, or its hub id (activities/base-model). */
  baseModelDir?: string;
  baseModel?: HubModelRef;
}

export interface TrainRewardModelOutput {
  rewardModelRef: string;
  metrics: NonNullable<RunProgress['rewardModel']>;
  /** The earlier run whose reward model this is, when it was reused rather than trained. */
  reusedFrom?: string;
}

export interface ExportPolicyInput extends Omit<PpoChunkInput, 'from' | 'updates' | 'kl'> {
  /** The final PPO checkpoint. */
  checkpoint: CheckpointInfo;
  /** Validation rows; their prompts measure the exported policy. */
  valRef: string;
}

export type EvaluatePolicyInput = ExportPolicyInput;

export interface ExportPolicyOutput {
  policyRef: string;
  /** The final policy's mean and std reward (normalised scale) on the validation prompts. */
  rewardMean: number;
  rewardStd: number;
}

/**
 * Seed streams per phase, derived from the run seed, so the reward model, SFT and PPO do
 * not share random numbers (changing one phase's consumption leaves the others' unchanged).
 */
export const SeedOffsets = { rewardModel: 1, sft: 2, ppo: 3, evaluation: 4 } as const;

/** Throws CancelledFailure when the activity has been cancelled (seen on a heartbeat). */
export function throwIfCancelled(): void {
  const ctx = Context.current();
  if (ctx.cancellationSignal.aborted) throw new CancelledFailure('activity cancelled');
}

/**
 * Runs `fn`, turning a bad base-model directory (missing file, unsupported config, dtype or
 * shape: spec/hf-errors) into a non-retryable InvalidConfig; the rest as `classified` does.
 */
function withBaseModelErrors<T>(fn: () => Promise<T>): Promise<T> {
  return classified(async () => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof Error && HF_ERROR_NAMES.has(err.name)) throw invalidConfig(`base model: ${err.message}`, err);
      throw err;
    }
  });
}

interface RewardModelStart {
  tokenizer: Tokenizer;
  /** The base with fresh adapters and head; absent without a base (ml/reward-model then initialises a trunk). */
  trunk?: GptModel;
}

/**
 * The reward model's tokenizer and starting trunk. With a base: the base loaded with the run's
 * reward adapters (runConfigForBase set their shape and 'lora'), seeded from the reward-model
 * stream; ml/reward-model checks it against `reward.model` and takes ownership of it.
 */
async function rewardModelStart(baseModelDir: string | undefined, config: RunConfig): Promise<RewardModelStart> {
  if (baseModelDir === undefined) return { tokenizer: runTokenizer(config) };
  const base = await loadHfModelDir(baseModelDir, { lora: config.reward.model.lora, seed: config.seed + SeedOffsets.rewardModel });
  return { tokenizer: base.tokenizer, trunk: base.model };
}

export function createTrainingActivities(deps: ActivityDeps) {
  const { store } = deps;
  const log = deps.log ?? temporalLog;
  const events = deps.runEvents ?? NO_RUN_EVENTS;
  const ppo = createPpoRuntime(deps);
  /**
   * Runs `fn` re-sending `details()` at the ticker period: every activity on the training queue
   * runs under its heartbeatTimeout, also the ones with no loop of their own to heartbeat from.
   */
  const heartbeating = <T>(fn: () => Promise<T>, details: () => unknown = () => undefined): Promise<T> =>
    withHeartbeatTicker(details, fn, heartbeatTickMs(deps.heartbeatTickMs));

  return {
    /**
     * Trains the reward model (heartbeat per epoch) into `runs/{runId}/reward_model/`. With a
     * Hugging Face base, the trunk is the base with fresh LoRA adapters and scalar head (seeded
     * from the run), and the base's tokenizer is saved with it.
     */
    async trainRewardModel(input: TrainRewardModelInput): Promise<TrainRewardModelOutput> {
      return withBaseModelErrors(async () => {
        const ctx = Context.current();
        await events.phase(input.runId, RunPhases.rewardModel);
        const config = await store.readJson<RunConfig>(input.configRef);
        const fingerprint = input.agentId ? await rewardModelFingerprint(store, input, config) : null;
        if (input.agentId && fingerprint && input.reuse !== false) {
          const earlier = await findReusableRewardModel(store, input.agentId, fingerprint);
          if (earlier) {
            log.info('reward model reused', { runId: input.runId, from: earlier.runId });
            return { rewardModelRef: earlier.rewardModelRef, metrics: earlier.metrics, ...(earlier.runId === input.runId ? {} : { reusedFrom: earlier.runId }) };
          }
        }
        let latest: unknown = { phase: 'reward_model', epoch: -1 };
        const train = await readJsonl<FeedbackExample>(store, input.trainRef);
        const val = await readJsonl<FeedbackExample>(store, input.valRef);
        const start = await heartbeating(async () => rewardModelStart(await baseModelDirOf(input, 'model'), config));
        const { model, metrics, normalization } = await heartbeating(() => fitRewardModel({
          train,
          val,
          config,
          tokenizer: start.tokenizer,
          rng: new Rng(config.seed + SeedOffsets.rewardModel),
          initialTrunk: start.trunk,
          onProgress: (p) => {
            latest = p;
            ctx.heartbeat(p satisfies EpochHeartbeat); // the contract's shape, read back by the API's progress
          },
          shouldStop: heartbeatingStopCheck(() => latest),
        }), () => latest);
        try {
          throwIfCancelled();
          const rewardModelRef = runArtifacts.rewardModel(input.runId);
          if (await store.exists(rewardModelRef)) await store.remove(rewardModelRef);
          await saveRewardModel(store.resolve(rewardModelRef), model, normalization, metrics, config, { tokenizer: start.tokenizer });
          log.info('reward model trained', { runId: input.runId, valPearson: metrics.valPearson, epochs: metrics.epochsRun });
          const { valMse, valMae, valPearson, valSpearman } = metrics;
          const summary = { valMse, valMae, valPearson, valSpearman };
          if (input.agentId && fingerprint) await recordRewardModel(store, input.agentId, fingerprint, { runId: input.runId, rewardModelRef, metrics: summary });
          const { minValPearson } = config.gate;
          // The same comparison as the workflow's quality gate, so the stream shows its verdict.
          await events.rewardModel(input.runId, { ...summary, minValPearson, passed: valPearson >= minValPearson });
          return { rewardModelRef, metrics: summary };
        } finally {
          model.dispose();
        }
      });
    },

    /**
     * Supervised warm start of a fresh policy on the training rows; saved to `runs/{runId}/sft/`.
     * With `valRef` (runs started since issue 11) it trains to the plateau of the validation
     * response loss (`sft.earlyStoppingPatience`, `sft.epochs` the cap) and keeps the best epoch.
     */
    async sftWarmStart(input: { runId: string; configRef: string; trainRef: string; valRef?: string }): Promise<{ policyInitRef: string; finalLoss: number; steps: number }> {
      return classified(async () => {
        const ctx = Context.current();
        await events.phase(input.runId, RunPhases.sft);
        const config = await store.readJson<RunConfig>(input.configRef);
        const rows = await readJsonl<FeedbackExample>(store, input.trainRef);
        const val = input.valRef === undefined ? undefined : await readJsonl<FeedbackExample>(store, input.valRef);
        const tokenizer = runTokenizer(config);
        const rng = new Rng(config.seed + SeedOffsets.sft);
        const policy = GptModel.create(config.policyModel, rng);
        let latest: unknown = { phase: 'sft', epoch: -1 };
        try {
          const result = await heartbeating(() => trainSft({
            policy,
            rows,
            val,
            config,
            tokenizer,
            rng,
            onProgress: (p) => {
              latest = p;
              ctx.heartbeat(p satisfies EpochHeartbeat); // the contract's shape, read back by the API's progress
            },
            shouldStop: heartbeatingStopCheck(() => latest),
          }), () => latest);
          throwIfCancelled();
          const policyInitRef = runArtifacts.sftPolicy(input.runId);
          if (await store.exists(policyInitRef)) await store.remove(policyInitRef);
          await writePolicyDir(store.resolve(policyInitRef), policy, tokenizer, config);
          log.info('sft trained', { runId: input.runId, epochsRun: result.epochsRun, bestEpoch: result.bestEpoch, valLoss: result.valLoss });
          return { policyInitRef, finalLoss: result.finalLoss, steps: result.steps };
        } finally {
          policy.dispose();
        }
      });
    },

    /**
     * The starting policy of a run on a Hugging Face base (instead of SFT): the base with fresh
     * LoRA adapters (B = 0, so it computes exactly the base) and value head, seeded like SFT,
     * written with the base's tokenizer and config to `runs/{runId}/sft/`, where PPO reads it.
     */
    async basePolicyInit(input: BasePolicyInitInput): Promise<{ policyInitRef: string }> {
      return withBaseModelErrors(() => heartbeating(async () => {
        const config = await store.readJson<RunConfig>(input.configRef);
        const baseModelDir = await baseModelDirOf(input, 'model');
        if (baseModelDir === undefined) throw invalidConfig('basePolicyInit needs baseModelDir or baseModel');
        const base = await loadHfModelDir(baseModelDir, { lora: config.policyModel.lora, seed: config.seed + SeedOffsets.sft });
        try {
          // resolveConfig shaped the policy from this directory; a different shape means it changed since.
          const shapeKeys = ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const;
          if (shapeKeys.some((k) => base.config[k] !== config.policyModel[k])) {
            throw invalidConfig(`base model ${baseModelDir} no longer matches the run's policy shape ${JSON.stringify(config.policyModel)}`);
          }
          throwIfCancelled();
          const policyInitRef = runArtifacts.sftPolicy(input.runId);
          if (await store.exists(policyInitRef)) await store.remove(policyInitRef);
          await writePolicyDir(store.resolve(policyInitRef), base.model, base.tokenizer, config, { hfConfig: base.hfConfig });
          log.info('policy initialised from base', { runId: input.runId, baseModelDir, baseModel: input.baseModel });
          return { policyInitRef };
        } finally {
          base.model.dispose();
        }
      }));
    },

    ppoChunk: ppo.ppoChunk,

    /**
     * The evaluation phase (ml/evaluation): the final checkpoint's policy against its start
     * (adapters off) on the validation prompts, with fixed seeds; the report is also written to
     * `runs/{runId}/evaluation.json`.
     */
    async evaluatePolicy(input: EvaluatePolicyInput): Promise<EvaluationReport> {
      return classified(() => heartbeating(async () => {
        const { opened } = await ppo.openAt(input, input.checkpoint);
        try {
          const { config, policy, reward, tokenizer } = opened;
          const prompts = (await readJsonl<FeedbackExample>(store, input.valRef)).map((r) => r.prompt);
          const ev = config.evaluation ?? DEFAULT_EVALUATION;
          await yieldToEventLoop();
          const evaluated = await evaluatePolicies({
            policy,
            reward,
            tokenizer,
            prompts,
            generation: config.ppo.generation,
            blockSize: config.policyModel.blockSize,
            samplesPerPrompt: ev.samplesPerPrompt,
            maxPrompts: ev.maxPrompts,
            seed: config.seed + SeedOffsets.evaluation,
          });
          // The same report everywhere (file, run result, version metrics, event): its sample text shown as stored (no NUL).
          const report = storableJson(evaluated.report);
          await store.writeJson(runArtifacts.evaluation(input.runId), report);
          await events.evaluation(input.runId, { ...report });
          log.info('policy evaluated', { runId: input.runId, verdict: report.verdict, rewardGain: report.rewardGain.mean, reason: report.reason });
          return report;
        } finally {
          // Not the trainer cache's live trainer: exportPolicy reopens (and frees) it.
          opened.dispose();
        }
      }));
    },

    /**
     * Writes the policy of the final PPO checkpoint as a standalone policy directory
     * (`runs/{runId}/policy/`) and measures its mean/std reward (normalised scale) on the
     * validation prompts: the version's rewardMean/rewardStd. A policy that started from a
     * Hugging Face base is also written as a Hugging Face directory (`policy/hf/`).
     */
    async exportPolicy(input: ExportPolicyInput): Promise<ExportPolicyOutput> {
      return classified(() => heartbeating(async () => {
        await events.phase(input.runId, RunPhases.save);
        // The last chunk's live trainer when this process ran it (freed below: the run is done).
        const openStarted = performance.now();
        const { opened, from } = await ppo.openAt(input, input.checkpoint);
        log.info('policy export opened', { runId: input.runId, from, openMs: performance.now() - openStarted });
        try {
          const { config, policy, reward, tokenizer } = opened;
          const policyRef = runArtifacts.finalPolicy(input.runId);
          if (await store.exists(policyRef)) await store.remove(policyRef);
          const hfConfig = await readPolicyHfConfig(store.resolve(input.policyInitRef));
          await writePolicyDir(store.resolve(policyRef), policy, tokenizer, config, { hfConfig, hfExport: hfConfig !== null });
          const prompts = (await readJsonl<FeedbackExample>(store, input.valRef)).map((r) => r.prompt);
          const rng = new Rng(config.seed + SeedOffsets.evaluation);
          const pairs: { prompt: string; response: string }[] = [];
          for (const prompt of prompts) {
            pairs.push({ prompt, response: generateText(policy, tokenizer, prompt, config.ppo.generation, rng) });
            await yieldToEventLoop(); // the heartbeat ticker runs between prompts
          }
          const rewards = reward.score(tokenizer, pairs);
          log.info('policy exported', { runId: input.runId, rewardMean: mean(rewards) });
          return { policyRef, rewardMean: mean(rewards), rewardStd: std(rewards) };
        } finally {
          opened.dispose();
        }
      }));
    },
  };
}
