/**
 * The ML workloads that bench/throughput.ts and bench/scaling.ts time on ml/ and that
 * bench/reference/bench.py times on PyTorch: the same config, batch shape, sequence length,
 * trained variables and optimizer on both sides (the spec below is handed to Python as JSON).
 *   - rollout: KV-cache sampling of `newTokens` tokens for `batchSize` prompts of `promptLength`;
 *   - SFT: `sftStepsPerRun` full-weight steps (adapters off) on [sftBatchSize, T] with
 *     next-token cross-entropy on every position, global-norm clip, AdamW;
 *   - PPO update: ml/ppo-update.ts runPpoEpochs (ppoEpochs × shuffled minibatches, clipped
 *     policy + value loss, clip, AdamW on LoRA + value head) on a [batchSize, T] batch whose
 *     targets come from the no-grad policy/reference pass, GAE and whitening.
 * Token ids are random bytes: speed does not depend on the text.
 */
import { derivePpoSizes, resolveRunConfig, type ModelConfig, type PpoConfig, type PresetName } from '../../spec/run-config';
import { GptModel } from '../../ml/model';
import { AdamW, learningRateAt } from '../../ml/optimizer';
import { computeAdvantages } from '../../ml/ppo-advantages';
import { rolloutForward } from '../../ml/ppo-forward';
import { runPpoEpochs, type UpdateBatch, type UpdateDeps } from '../../ml/ppo-update';
import { Rng } from '../../ml/rng';
import { generate } from '../../ml/sampling';
import { maskedTokenCrossEntropy } from '../../ml/sft';
import { tf } from '../../ml/tf';
import { gradientStep } from '../../ml/training-loop';
import { timeSeconds } from './stats';

export interface Workload {
  promptLength: number;
  newTokens: number;
  sftBatchSize: number;
  sftStepsPerRun: number;
}

/** What both sides need to build the same model and run the same update. */
export interface WorkloadSpec {
  seed: number;
  model: ModelConfig;
  ppo: PpoConfig;
  workload: Workload;
}

/** `preset`'s policy and PPO config; sequences of its maxNewTokens after an equally long prompt. */
export function presetSpec(preset: PresetName, seed: number): WorkloadSpec {
  const cfg = resolveRunConfig(preset, { seed });
  const n = cfg.ppo.generation.maxNewTokens;
  return { seed, model: cfg.policyModel, ppo: cfg.ppo, workload: { promptLength: n, newTokens: n, sftBatchSize: cfg.sft.batchSize, sftStepsPerRun: 4 } };
}

const EOS_NEVER = -1; // no early stop: every row generates newTokens, as the PyTorch side does
const PAD_ID = 258;

function randomIds(rng: Rng, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.nextUint32() % 256));
}

/** Seconds to sample `newTokens` for `batchSize` random prompts with the KV cache (adapters on). */
export function rolloutSeconds(policy: GptModel, spec: WorkloadSpec, rng: Rng): Promise<number> {
  const prompts = randomIds(rng, spec.ppo.batchSize, spec.workload.promptLength);
  const opts = { ...spec.ppo.generation, maxNewTokens: spec.workload.newTokens, eosId: EOS_NEVER, padId: PAD_ID, adapters: true };
  return timeSeconds(() => generate(policy, prompts, opts, rng));
}

/** A PPO update batch like the trainer's: random ids, response after the prompt, real targets. */
export function makeUpdateBatch(policy: GptModel, spec: WorkloadSpec, promptLength: number, seqLen: number, rng: Rng): UpdateBatch {
  const b = spec.ppo.batchSize;
  const ids = tf.tensor2d(randomIds(rng, b, seqLen), [b, seqLen], 'int32'); // [B, T]
  const attentionMask = tf.ones([b, seqLen]) as tf.Tensor2D; // [B, T]
  const resp = new Float32Array(b * (seqLen - 1));
  for (let r = 0; r < b; r++) resp.fill(1, r * (seqLen - 1) + promptLength - 1, (r + 1) * (seqLen - 1));
  const responseMask = tf.tensor2d(resp, [b, seqLen - 1]); // [B, T-1]
  const scores = Array.from({ length: b }, () => rng.normal());
  const fwd = rolloutForward(policy, { ids, attentionMask, responseMask }, spec.ppo.generation.temperature);
  const adv = computeAdvantages(fwd, responseMask, scores, spec.ppo.initKlCoef, spec.ppo);
  fwd.refLogprobs.dispose();
  return { ids, attentionMask, responseMask, oldLogprobs: fwd.logprobs, oldValues: fwd.values, advantages: adv.advantages, returns: adv.returns };
}

/**
 * `policy` as the PPO update used it before frozen weights skipped their gradients (commit
 * f87f49b): every forward pass differentiates every weight, so each frozen base matmul also forms
 * dW = xᵀ·dy, the embeddings their table gradients and the tied LM head wte's [V, C] gradient,
 * which the optimizer then never reads. The baseline of bench/throughput.ts's paired comparison;
 * test/ml/ppo-update.test.ts checks an update through it trains the same weights bit for bit.
 */
export function everyWeightDifferentiated(policy: GptModel): GptModel {
  const forward: GptModel['forward'] = (ids, mask, opts = {}) => policy.forward(ids, mask, { ...opts, trainable: 'full' });
  // Every other member (trainableVariables, the variables) is the policy's, through the prototype.
  return Object.assign(Object.create(policy) as GptModel, { forward });
}

/** A PPO updater on `policy`'s LoRA + value head; `update()` times one runPpoEpochs call. */
export function ppoUpdater(policy: GptModel, spec: WorkloadSpec, rng: Rng): { update: (batch: UpdateBatch) => Promise<number>; dispose: () => void } {
  const vars = policy.trainableVariables('lora');
  const optimizer = new AdamW(vars, spec.ppo.optim);
  const sizes = derivePpoSizes(spec.ppo);
  const deps: UpdateDeps = {
    policy,
    vars,
    optimizer,
    ppo: spec.ppo,
    sizes,
    temperature: spec.ppo.generation.temperature,
    // A flat rate: the schedule's position is irrelevant to speed.
    learningRateAt: () => learningRateAt(spec.ppo.optim.warmupSteps, spec.ppo.optim.warmupSteps, spec.ppo.optim),
  };
  return {
    update: (batch) => timeSeconds(() => runPpoEpochs(deps, batch, rng, 0)),
    dispose: () => optimizer.dispose(),
  };
}

/** Seconds for `sftStepsPerRun` full-weight SFT steps on a fixed random batch; a fresh model per call. */
export function sftStepper(spec: WorkloadSpec, rng: Rng): { run: () => Promise<number>; dispose: () => void } {
  const model = GptModel.create(spec.model, rng);
  const base = model
    .namedVariables()
    .filter((v) => v.group === 'base')
    .map((v) => v.variable);
  const optimizer = new AdamW(base, { ...spec.ppo.optim, learningRate: 1e-3 });
  const { sftBatchSize: b } = spec.workload;
  const t = spec.workload.promptLength + spec.workload.newTokens;
  const ids = tf.tensor2d(randomIds(rng, b, t), [b, t], 'int32'); // [B, T]
  const mask = tf.ones([b, t]) as tf.Tensor2D; // [B, T]
  const lossFn = () =>
    tf.tidy(() => {
      const { logits } = model.forward(ids, mask, { adapters: false }); // [B, T, V]
      const v = logits.shape[2];
      const predicting = tf.slice(logits, [0, 0, 0], [b, t - 1, v]) as tf.Tensor3D; // [B, T-1, V]
      const labels = tf.slice(ids, [0, 1], [b, t - 1]) as tf.Tensor2D; // [B, T-1]
      return maskedTokenCrossEntropy(predicting, labels, tf.ones([b, t - 1]) as tf.Tensor2D);
    });
  return {
    run: () =>
      timeSeconds(() => {
        for (let i = 0; i < spec.workload.sftStepsPerRun; i++) {
          gradientStep({ vars: base, optimizer, lossFn, maxGradNorm: spec.ppo.optim.maxGradNorm, learningRate: 1e-3 });
        }
      }),
    dispose: () => {
      tf.dispose([ids, mask]);
      optimizer.dispose();
      model.dispose();
    },
  };
}
