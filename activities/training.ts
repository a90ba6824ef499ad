/**
 * Training activities (GPU queue): reward model, SFT warm start, PPO chunks and the final
 * policy export. They read their inputs from the artifact store by key and write their
 * outputs back; only keys and small metrics are returned. Long loops heartbeat, which is
 * also how a cancellation reaches them (Temporal delivers cancels only on heartbeat).
 */
import { Context, CancelledFailure } from '@temporalio/activity';
import { log as temporalLog } from '@temporalio/activity';
import type { RunConfig } from '../ml/config';
import type { FeedbackExample } from '../ml/dataset';
import { GptModel } from '../ml/model';
import { generateText, savePolicy as writePolicyDir } from '../ml/policy-export';
import { saveRewardModel, trainRewardModel as fitRewardModel } from '../ml/reward-model';
import { Rng } from '../ml/rng';
import { trainSft } from '../ml/sft';
import { mean, std } from '../ml/stats';
import { ByteTokenizer } from '../ml/tokenizer';
import type { CheckpointInfo, RunProgress } from '../workflows/messages';
import { runArtifacts } from './data';
import { type ActivityDeps } from './deps';
import { classified } from './errors';
import { heartbeatingStopCheck } from './heartbeat';
import { readJsonl } from './jsonl';
import { createPpoRuntime, type PpoChunkInput } from './ppo-chunk';

export interface TrainRewardModelInput {
  runId: string;
  configRef: string;
  trainRef: string;
  valRef: string;
}

export interface TrainRewardModelOutput {
  rewardModelRef: string;
  metrics: NonNullable<RunProgress['rewardModel']>;
}

export interface ExportPolicyInput extends Omit<PpoChunkInput, 'from' | 'updates' | 'kl'> {
  /** The final PPO checkpoint. */
  checkpoint: CheckpointInfo;
  /** Validation rows; their prompts measure the exported policy. */
  valRef: string;
}

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

export function createTrainingActivities(deps: ActivityDeps) {
  const { store } = deps;
  const log = deps.log ?? temporalLog;
  const ppo = createPpoRuntime(deps);

  return {
    /** Trains the reward model (heartbeat per epoch) into `runs/{runId}/reward_model/`. */
    async trainRewardModel(input: TrainRewardModelInput): Promise<TrainRewardModelOutput> {
      return classified(async () => {
        const ctx = Context.current();
        const config = await store.readJson<RunConfig>(input.configRef);
        let latest: unknown = { phase: 'reward_model', epoch: -1 };
        const train = await readJsonl<FeedbackExample>(store, input.trainRef);
        const val = await readJsonl<FeedbackExample>(store, input.valRef);
        const { model, metrics, normalization } = await fitRewardModel({
          train,
          val,
          config,
          tokenizer: new ByteTokenizer(),
          rng: new Rng(config.seed + SeedOffsets.rewardModel),
          onProgress: (p) => {
            latest = p;
            ctx.heartbeat(p);
          },
          shouldStop: heartbeatingStopCheck(() => latest),
        });
        try {
          throwIfCancelled();
          const rewardModelRef = runArtifacts.rewardModel(input.runId);
          if (await store.exists(rewardModelRef)) await store.remove(rewardModelRef);
          await saveRewardModel(store.resolve(rewardModelRef), model, normalization, metrics, config);
          log.info('reward model trained', { runId: input.runId, valPearson: metrics.valPearson, epochs: metrics.epochsRun });
          const { valMse, valMae, valPearson, valSpearman } = metrics;
          return { rewardModelRef, metrics: { valMse, valMae, valPearson, valSpearman } };
        } finally {
          model.dispose();
        }
      });
    },

    /** Supervised warm start of a fresh policy on the training rows; saved to `runs/{runId}/sft/`. */
    async sftWarmStart(input: { runId: string; configRef: string; trainRef: string }): Promise<{ policyInitRef: string; finalLoss: number; steps: number }> {
      return classified(async () => {
        const ctx = Context.current();
        const config = await store.readJson<RunConfig>(input.configRef);
        const rows = await readJsonl<FeedbackExample>(store, input.trainRef);
        const tokenizer = new ByteTokenizer();
        const rng = new Rng(config.seed + SeedOffsets.sft);
        const policy = GptModel.create(config.policyModel, rng);
        let latest: unknown = { phase: 'sft', epoch: -1 };
        try {
          const result = await trainSft({
            policy,
            rows,
            config,
            tokenizer,
            rng,
            onProgress: (p) => {
              latest = p;
              ctx.heartbeat(p);
            },
            shouldStop: heartbeatingStopCheck(() => latest),
          });
          throwIfCancelled();
          const policyInitRef = runArtifacts.sftPolicy(input.runId);
          if (await store.exists(policyInitRef)) await store.remove(policyInitRef);
          await writePolicyDir(store.resolve(policyInitRef), policy, tokenizer, config);
          return { policyInitRef, finalLoss: result.finalLoss, steps: result.steps };
        } finally {
          policy.dispose();
        }
      });
    },

    ppoChunk: ppo.ppoChunk,

    /**
     * Writes the policy of the final PPO checkpoint as a standalone policy directory
     * (`runs/{runId}/policy/`) and measures its mean/std reward (normalised scale) on the
     * validation prompts: the version's rewardMean/rewardStd.
     */
    async exportPolicy(input: ExportPolicyInput): Promise<ExportPolicyOutput> {
      return classified(async () => {
        const opened = await ppo.openTrainer(input, input.checkpoint);
        try {
          const { config, policy, reward, tokenizer } = opened;
          const policyRef = runArtifacts.finalPolicy(input.runId);
          if (await store.exists(policyRef)) await store.remove(policyRef);
          await writePolicyDir(store.resolve(policyRef), policy, tokenizer, config);
          const prompts = (await readJsonl<FeedbackExample>(store, input.valRef)).map((r) => r.prompt);
          const rng = new Rng(config.seed + SeedOffsets.evaluation);
          const pairs = prompts.map((prompt) => ({ prompt, response: generateText(policy, tokenizer, prompt, config.ppo.generation, rng) }));
          const rewards = reward.score(tokenizer, pairs);
          log.info('policy exported', { runId: input.runId, rewardMean: mean(rewards) });
          return { policyRef, rewardMean: mean(rewards), rewardStd: std(rewards) };
        } finally {
          opened.dispose();
        }
      });
    },
  };
}
