/**
 * The evaluation phase's report (ml/evaluation.ts computes it): plain data, shared by the
 * workflow's result, the API schema and training_results.json without importing ml code.
 */
import type { EvaluationVerdict } from './names';

export interface Interval {
  mean: number;
  lo: number;
  hi: number;
}

export interface PolicyEvaluation {
  rewardMean: Interval;
  /** Mean sequence KL to the reference, Σ_t log π(y_t) − log π_ref(y_t) over the response (nats). */
  klToReference: Interval;
  /** Mean response length in tokens (EOS included when emitted). */
  responseLength: Interval;
  /** Fraction of replies with no text (EOS first, or only EOS). */
  emptyFraction: number;
  /** Distinct unigram / bigram ratio over all replies' whitespace tokens (Li et al. 2016). */
  distinct1: number;
  distinct2: number;
}

export interface SamplePair {
  prompt: string;
  start: string;
  final: string;
  startReward: number;
  finalReward: number;
}

export interface EvaluationReport {
  prompts: number;
  samplesPerPrompt: number;
  seed: number;
  start: PolicyEvaluation;
  final: PolicyEvaluation;
  /** Paired difference final − start of the reward model's score. */
  rewardGain: Interval;
  /** Fraction of pairs the final policy wins by the reward model (ties count ½). */
  winRate: Interval;
  /** The 95 % interval of `rewardGain` lies above 0. */
  significant: boolean;
  verdict: EvaluationVerdict;
  /** Why the verdict is not_improved (null when improved). */
  reason: string | null;
  pairs: SamplePair[];
}
