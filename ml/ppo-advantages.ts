/**
 * PPO phases 4-5: KL-penalised per-token rewards, GAE, advantage whitening
 * (TRL 0.7 `compute_rewards` then `compute_advantages`).
 */
import { tf, type Tensor2D } from './tf';
import type { PpoConfig } from '../spec/run-config';
import { gae, klPenalisedRewards, maskedWhiten } from './ppo-math';
import type { RolloutForward } from './ppo-forward';

/** Per-token training targets of one rollout batch, all in the shifted [B, T-1] layout. */
export interface Advantages {
  /** Â, whitened over the response tokens when `whitenAdvantages` (TRL 0.7 default). */
  advantages: Tensor2D; // [B, T-1]
  /** Value targets R = Â_raw + V (before whitening, as TRL). */
  returns: Tensor2D; // [B, T-1]
  /** Per-row summed KL estimate (the controller's input). */
  klPerSequence: number[]; // [B]
  /** Per-row summed −β·KL. */
  nonScorePerSequence: number[]; // [B]
}

/**
 * Rewards: −β·KL on every response token plus the score on the last one (Ziegler et al.
 * 2019); then GAE with (γ, λ) (Schulman et al. 2015); then whitening of the advantages.
 */
export function computeAdvantages(
  fwd: RolloutForward,
  responseMask: Tensor2D, // [B, T-1]
  scores: number[], // [B]
  klCoef: number,
  ppo: Pick<PpoConfig, 'klEstimator' | 'gamma' | 'lam' | 'whitenAdvantages'>,
): Advantages {
  const out = tf.tidy(() => {
    const score = tf.tensor1d(scores); // [B]
    const { rewards, nonScoreReward, kl } = klPenalisedRewards(score, fwd.logprobs, fwd.refLogprobs, responseMask, klCoef, ppo.klEstimator); // [B, T-1] ×3
    const { advantages, returns } = gae(rewards, fwd.values, responseMask, ppo.gamma, ppo.lam); // [B, T-1] ×2
    const finalAdvantages = ppo.whitenAdvantages ? (maskedWhiten(advantages, responseMask) as Tensor2D) : advantages;
    return {
      advantages: finalAdvantages,
      returns,
      klSum: tf.sum(kl, 1), // [B]
      nonScoreSum: tf.sum(nonScoreReward, 1), // [B]
    };
  });
  const klPerSequence = Array.from(out.klSum.dataSync());
  const nonScorePerSequence = Array.from(out.nonScoreSum.dataSync());
  tf.dispose([out.klSum, out.nonScoreSum]);
  return { advantages: out.advantages, returns: out.returns, klPerSequence, nonScorePerSequence };
}
