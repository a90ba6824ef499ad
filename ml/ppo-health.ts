/**
 * Health check per PPO update (issue 14): pure functions over the update's metrics, a short
 * window of the updates before it, and the run's first update (the starting policy's rollout).
 * No tensors, no I/O: the chunk activity feeds it and decides what a trip means (rollback).
 *
 * The failure modes it watches are the ones TRL and OpenRLHF users keep reporting:
 *  - KL that grows without bound (trl #204, #1857) or goes negative (trl #925);
 *  - entropy collapse (a policy that answers one thing);
 *  - length hacking and missing EOS (OpenRLHF #236, trl #522, #986);
 *  - reward hacking: the reward model's score rises while the policy runs away from the reference;
 *  - NaN losses (OpenRLHF #1120), gradients or weights.
 */
import { MetricKeys, type UpdateMetrics } from '../common/names';
import type { GuardConfig } from '../spec/run-config';

export type { GuardrailEvent, GuardrailSummary } from '../common/guardrails';

/** What tripped, as `as const` enum; the event's `condition`. */
export const TripConditions = {
  klExplosion: 'kl_explosion',
  negativeKl: 'negative_kl',
  entropyFloor: 'entropy_floor',
  entropyDrop: 'entropy_drop',
  lengthDrift: 'length_drift',
  eosCollapse: 'eos_collapse',
  rewardHacking: 'reward_hacking',
  nonFinite: 'non_finite',
} as const;
export type TripCondition = (typeof TripConditions)[keyof typeof TripConditions];

export interface HealthTrip {
  condition: TripCondition;
  /** One line naming the numbers, for the event, the log and a failure message. */
  message: string;
  /** The numbers that decided it. */
  values: Record<string, number>;
}

/** One update as the check sees it. */
export interface HealthObservation {
  metrics: UpdateMetrics;
  /** False when any trainable weight is NaN or ±∞ after the update. */
  weightsFinite: boolean;
  /** Global gradient norm before clipping, when the optimizer reports one. */
  gradNorm?: number;
}

export interface HealthContext {
  /** The adaptive controller's KL target for this update. */
  klTarget: number;
  /** Metrics of the run's first update (the starting policy's rollout), or null at update 1. */
  baseline: UpdateMetrics | null;
  /** Rollouts per update (the batch the rates are measured on). */
  batchSize: number;
  /** Metrics of the updates just before this one, oldest first (at most `historyWindow(cfg)`). */
  previous: readonly UpdateMetrics[];
}

/** How many earlier updates the check needs to see. */
export function historyWindow(cfg: GuardConfig): number {
  return Math.max(cfg.klPatience - 1, cfg.entropyWindow, 0);
}

/** The first failed condition of one update, or null when it is healthy. Order: worst first. */
export function checkHealth(obs: HealthObservation, ctx: HealthContext, cfg: GuardConfig): HealthTrip | null {
  return (
    nonFinite(obs) ??
    negativeKl(obs.metrics, cfg) ??
    klExplosion(obs.metrics, ctx, cfg) ??
    rewardHacking(obs.metrics, ctx, cfg) ??
    entropy(obs.metrics, ctx, cfg) ??
    lengthDrift(obs.metrics, ctx, cfg) ??
    eosCollapse(obs.metrics, ctx, cfg)
  );
}

/** A NaN/∞ loss, metric, gradient norm or weight: nothing after it can be trusted. */
export function nonFinite(obs: HealthObservation): HealthTrip | null {
  for (const [key, value] of Object.entries(obs.metrics)) {
    if (!Number.isFinite(value)) return trip(TripConditions.nonFinite, `metric ${key} is ${value}`, { [key]: value });
  }
  if (obs.gradNorm !== undefined && !Number.isFinite(obs.gradNorm)) {
    return trip(TripConditions.nonFinite, `gradient norm is ${obs.gradNorm}`, { gradNorm: obs.gradNorm });
  }
  if (!obs.weightsFinite) return trip(TripConditions.nonFinite, 'a trainable weight is not finite', {});
  return null;
}

/**
 * The tolerance below zero for the batch-mean sequence KL. k1 (log p − log q on the policy's
 * own samples) is unbiased, so a true KL ≥ 0 gives a batch mean below zero only by sampling
 * noise: `negativeKlSigmas` standard errors of that mean (measured on the batch), and never
 * less than `negativeKlMinEpsilon` (a batch whose sequences all agree has a tiny standard error).
 */
export function negativeKlEpsilon(klStdErr: number, cfg: GuardConfig): number {
  return Math.max(cfg.negativeKlMinEpsilon, cfg.negativeKlSigmas * klStdErr);
}

export function negativeKl(m: UpdateMetrics, cfg: GuardConfig): HealthTrip | null {
  const kl = m[MetricKeys.klObjective];
  const epsilon = negativeKlEpsilon(m[MetricKeys.klStdErr], cfg);
  if (kl >= -epsilon) return null;
  return trip(TripConditions.negativeKl, `KL ${fmt(kl)} < −ε (ε ${fmt(epsilon)} from the estimator's standard error ${fmt(m[MetricKeys.klStdErr])})`, {
    kl,
    epsilon,
    klStdErr: m[MetricKeys.klStdErr],
  });
}

/** KL above klFactor × target in this update and the klPatience − 1 before it. */
export function klExplosion(m: UpdateMetrics, ctx: HealthContext, cfg: GuardConfig): HealthTrip | null {
  const bound = cfg.klFactor * ctx.klTarget;
  const recent = [...ctx.previous.slice(Math.max(0, ctx.previous.length - (cfg.klPatience - 1))), m].map((x) => x[MetricKeys.klObjective]);
  if (recent.length < cfg.klPatience || recent.some((kl) => !(kl > bound))) return null;
  return trip(TripConditions.klExplosion, `KL above ${cfg.klFactor} × target (${fmt(bound)}) for ${cfg.klPatience} updates in a row: ${recent.map(fmt).join(', ')}`, {
    kl: m[MetricKeys.klObjective],
    bound,
    klTarget: ctx.klTarget,
    updates: cfg.klPatience,
  });
}

/** The reward model's score risen by rewardHackScoreRise over the start while KL is above rewardHackKlFactor × target. */
export function rewardHacking(m: UpdateMetrics, ctx: HealthContext, cfg: GuardConfig): HealthTrip | null {
  if (!ctx.baseline) return null;
  const rise = m[MetricKeys.scores] - ctx.baseline[MetricKeys.scores];
  const kl = m[MetricKeys.klObjective];
  const klBound = cfg.rewardHackKlFactor * ctx.klTarget;
  if (!(rise > cfg.rewardHackScoreRise && kl > klBound)) return null;
  return trip(TripConditions.rewardHacking, `reward-model score up ${fmt(rise)} from the start while KL ${fmt(kl)} > ${fmt(klBound)}`, {
    scoreRise: rise,
    score: m[MetricKeys.scores],
    kl,
    klBound,
  });
}

/** Entropy below the floor, or fallen by more than entropyMaxDrop (a fraction) over entropyWindow updates. */
export function entropy(m: UpdateMetrics, ctx: HealthContext, cfg: GuardConfig): HealthTrip | null {
  const now = m[MetricKeys.entropy];
  if (now < cfg.entropyFloor) {
    return trip(TripConditions.entropyFloor, `entropy ${fmt(now)} < floor ${fmt(cfg.entropyFloor)}`, { entropy: now, floor: cfg.entropyFloor });
  }
  if (cfg.entropyWindow < 1 || ctx.previous.length < cfg.entropyWindow) return null;
  const before = ctx.previous[ctx.previous.length - cfg.entropyWindow][MetricKeys.entropy];
  const drop = before > 0 ? (before - now) / before : 0;
  if (!(drop > cfg.entropyMaxDrop)) return null;
  return trip(TripConditions.entropyDrop, `entropy fell ${fmt(100 * drop)} % in ${cfg.entropyWindow} updates (${fmt(before)} → ${fmt(now)}; limit ${fmt(100 * cfg.entropyMaxDrop)} %)`, {
    entropy: now,
    entropyBefore: before,
    drop,
    limit: cfg.entropyMaxDrop,
  });
}

/** Mean response length outside [lengthRatioMin, lengthRatioMax] × the starting policy's. */
export function lengthDrift(m: UpdateMetrics, ctx: HealthContext, cfg: GuardConfig): HealthTrip | null {
  if (!ctx.baseline) return null;
  const start = ctx.baseline[MetricKeys.responseLength];
  const now = m[MetricKeys.responseLength];
  const ratio = start > 0 ? now / start : 1;
  if (ratio >= cfg.lengthRatioMin && ratio <= cfg.lengthRatioMax) return null;
  return trip(TripConditions.lengthDrift, `mean response length ${fmt(now)} is ${fmt(ratio)} × the starting policy's ${fmt(start)} (allowed ${cfg.lengthRatioMin}–${cfg.lengthRatioMax} ×)`, {
    length: now,
    baselineLength: start,
    ratio,
  });
}

/**
 * EOS rate below eosRateMinRatio × the starting policy's, by more than eosRateSigmas binomial
 * standard errors of a batch (√(p(1−p)/B) at the starting rate p), so that a batch of 4 whose
 * one EOS reply went missing is not a collapse; judged only when the start ended at least
 * eosRateMinBaseline of its replies.
 */
export function eosCollapse(m: UpdateMetrics, ctx: HealthContext, cfg: GuardConfig): HealthTrip | null {
  if (!ctx.baseline) return null;
  const start = ctx.baseline[MetricKeys.eosRate];
  const now = m[MetricKeys.eosRate];
  // A run checkpointed before objective/eos_rate existed has no starting rate to compare with.
  if (!Number.isFinite(start)) return null;
  const noise = cfg.eosRateSigmas * Math.sqrt((start * (1 - start)) / ctx.batchSize);
  if (start < cfg.eosRateMinBaseline || now >= cfg.eosRateMinRatio * start || start - now <= noise) return null;
  return trip(TripConditions.eosCollapse, `EOS rate ${fmt(now)} < ${cfg.eosRateMinRatio} × the starting policy's ${fmt(start)}`, { eosRate: now, baselineEosRate: start, noise });
}

function trip(condition: TripCondition, message: string, values: Record<string, number>): HealthTrip {
  return { condition, message: `${condition}: ${message}`, values };
}

function fmt(x: number): string {
  return Number.isFinite(x) ? String(Number(x.toPrecision(4))) : String(x);
}
