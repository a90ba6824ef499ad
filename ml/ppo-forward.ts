/**
 * PPO phase 3: the no-grad forward pass over `[BOS] prompt response` for the policy
 * (adapters on) and the reference (same weights, adapters off), giving per-token
 * log-probs, values and the response mask (TRL 0.7 `batched_forward_pass`).
 *
 * Shifted layout: position t of every [B, T-1] tensor is the prediction of token t+1, so
 * the response tokens of row b (indices q_b .. q_b + r_b − 1 of the sequence) sit at
 * positions q_b − 1 .. q_b + r_b − 2.
 */
import { tf, type Tensor2D } from './tf';
import type { GptModel, TrainableSelection } from './model';
import { rightPadBatch } from './dataset';
import { logprobsFromLogits } from './ppo-math';
import type { ScoredRollout } from './ppo-rollout';

/** Padded sequences of one rollout batch and the response mask in the shifted layout. */
export interface PackedSequences {
  /** `[BOS] prompt response PAD…` ids. */
  ids: Tensor2D; // [B, T] int32
  /** 1 on real tokens, 0 on padding. */
  attentionMask: Tensor2D; // [B, T]
  /** 1 where the position predicts a response token. */
  responseMask: Tensor2D; // [B, T-1]
}

/** Concatenates queries and responses, right-pads them and builds the response mask. */
export function packSequences(rollout: Pick<ScoredRollout, 'queries' | 'responses'>, padId: number): PackedSequences {
  const seqs = rollout.queries.map((q, b) => [...q, ...rollout.responses[b]]);
  const { ids, mask } = rightPadBatch(seqs, padId); // [B, T], [B, T]
  const [batch, time] = ids.shape as [number, number];
  const responseMask = new Float32Array(batch * (time - 1));
  rollout.queries.forEach((q, b) => {
    const start = q.length - 1;
    const end = start + rollout.responses[b].length; // exclusive
    responseMask.fill(1, b * (time - 1) + start, b * (time - 1) + end);
  });
  return { ids: ids as Tensor2D, attentionMask: mask as Tensor2D, responseMask: tf.tensor2d(responseMask, [batch, time - 1]) };
}

export interface ForwardOutputs {
  /** log π(token_{t+1} | prefix) of the sampled tokens. */
  logprobs: Tensor2D; // [B, T-1]
  /** V(prefix up to t). */
  values: Tensor2D; // [B, T-1]
  /** Temperature-scaled next-token logits (for the entropy metric). */
  logits: tf.Tensor3D; // [B, T-1, V]
}

/**
 * Shifted log-probs and values of `ids` under the model. Logits are divided by the
 * sampling temperature so the log-probs are those of the distribution that was sampled
 * (as newer TRL does; TRL 0.7 sampled at temperature 1).
 * Returns the scaled logits too; callers that do not need them dispose them. `trainable`:
 * the variables a gradient closure differentiates (GptModel ForwardOptions; default all).
 */
export function shiftedForward(
  model: GptModel,
  ids: Tensor2D, // [B, T]
  attentionMask: Tensor2D, // [B, T]
  adapters: boolean,
  temperature: number,
  trainable?: TrainableSelection,
): ForwardOutputs {
  return tf.tidy(() => {
    const [batch, time] = ids.shape;
    const out = model.forward(ids, attentionMask, { adapters, trainable });
    const vocab = out.logits.shape[2];
    const logits = tf.div(tf.slice(out.logits, [0, 0, 0], [batch, time - 1, vocab]), temperature) as tf.Tensor3D; // [B, T-1, V]
    const labels = tf.slice(ids, [0, 1], [batch, time - 1]) as Tensor2D; // [B, T-1]
    const logprobs = logprobsFromLogits(logits, labels) as Tensor2D; // [B, T-1]
    const values = tf.slice(out.values, [0, 0], [batch, time - 1]) as Tensor2D; // [B, T-1]
    return { logprobs, values, logits };
  });
}

/** Rollout-time quantities: old log-probs and values of the policy, reference log-probs. */
export interface RolloutForward {
  logprobs: Tensor2D; // [B, T-1]
  refLogprobs: Tensor2D; // [B, T-1]
  values: Tensor2D; // [B, T-1]
}

/** Phase 3: policy and reference forward passes without gradients. */
export function rolloutForward(policy: GptModel, packed: PackedSequences, temperature: number): RolloutForward {
  return tf.tidy(() => {
    const pol = shiftedForward(policy, packed.ids, packed.attentionMask, true, temperature);
    const ref = shiftedForward(policy, packed.ids, packed.attentionMask, false, temperature);
    return { logprobs: pol.logprobs, refLogprobs: ref.logprobs, values: pol.values };
  });
}
