/**
 * ml/ppo-health: one test per trip condition (issue 14), each with the healthy case beside it so
 * the threshold, not the mere presence of a number, decides.
 */
import { MetricKeys, type UpdateMetrics } from '../../common/names';
import { DEFAULT_GUARD, validateGuardConfig, type GuardConfig } from '../../spec/run-config';
import { checkHealth, historyWindow, negativeKlEpsilon, TripConditions, type HealthContext } from '../../ml/ppo-health';

const cfg: GuardConfig = { ...DEFAULT_GUARD };

/** A healthy-looking update: KL 2 against a target of 6, entropy 1.5, length 10, every reply ending in EOS. */
function metrics(over: Partial<Record<string, number>> = {}): UpdateMetrics {
  const base = Object.fromEntries(Object.values(MetricKeys).map((k) => [k, 0])) as UpdateMetrics;
  return {
    ...base,
    [MetricKeys.klObjective]: 2,
    [MetricKeys.klStdErr]: 0.2,
    [MetricKeys.scores]: 0.1,
    [MetricKeys.entropy]: 1.5,
    [MetricKeys.responseLength]: 10,
    [MetricKeys.eosRate]: 1,
    ...over,
  } as UpdateMetrics;
}

const ctx = (over: Partial<HealthContext> = {}): HealthContext => ({ klTarget: 6, batchSize: 64, baseline: metrics(), previous: [metrics(), metrics(), metrics()], ...over });
const check = (m: UpdateMetrics, c: HealthContext = ctx(), weightsFinite = true, gradNorm?: number) => checkHealth({ metrics: m, weightsFinite, gradNorm }, c, cfg);

it('passes a healthy update, and the first update (no baseline, no history)', () => {
  expect(check(metrics())).toBeNull();
  expect(check(metrics(), ctx({ baseline: null, previous: [] }))).toBeNull();
});

it('KL above k × target for m updates in a row trips; m − 1 in a row does not', () => {
  const high = (kl: number) => metrics({ [MetricKeys.klObjective]: kl });
  // bound = 2 × 6 = 12; patience 3
  expect(check(high(13), ctx({ previous: [metrics(), high(13), high(14)] }))?.condition).toBe(TripConditions.klExplosion);
  expect(check(high(13), ctx({ previous: [metrics(), metrics(), high(14)] }))).toBeNull();
  expect(check(high(13), ctx({ previous: [high(13), high(11.9), high(14)] }))).toBeNull();
  const trip = check(high(13), ctx({ previous: [high(13), high(14)] }));
  expect(trip).toMatchObject({ condition: 'kl_explosion', values: { kl: 13, bound: 12, klTarget: 6, updates: 3 } });
});

it('KL below −ε trips, with ε from the estimator standard error (and a floor)', () => {
  expect(negativeKlEpsilon(0.2, cfg)).toBeCloseTo(0.8, 12); // 4 σ
  expect(negativeKlEpsilon(0.001, cfg)).toBe(0.05); // floor
  expect(check(metrics({ [MetricKeys.klObjective]: -0.7, [MetricKeys.klStdErr]: 0.2 }))).toBeNull();
  const trip = check(metrics({ [MetricKeys.klObjective]: -0.9, [MetricKeys.klStdErr]: 0.2 }));
  expect(trip).toMatchObject({ condition: 'negative_kl', values: { kl: -0.9 } });
  expect(trip?.values.epsilon).toBeCloseTo(0.8, 12);
  // A noiseless batch: the floor decides.
  expect(check(metrics({ [MetricKeys.klObjective]: -0.06, [MetricKeys.klStdErr]: 0 }))?.condition).toBe('negative_kl');
  expect(check(metrics({ [MetricKeys.klObjective]: -0.04, [MetricKeys.klStdErr]: 0 }))).toBeNull();
});

it('entropy below the floor trips', () => {
  expect(check(metrics({ [MetricKeys.entropy]: 0.03 }))).toMatchObject({ condition: 'entropy_floor', values: { entropy: 0.03, floor: 0.05 } });
  expect(check(metrics({ [MetricKeys.entropy]: 0.06 }), ctx({ previous: [metrics({ [MetricKeys.entropy]: 0.07 })] }))).toBeNull();
});

it('entropy falling faster than the rate over the window trips', () => {
  const e = (x: number) => metrics({ [MetricKeys.entropy]: x });
  // 1.5 → 0.5 over 3 updates: 67 % > 60 %
  expect(check(e(0.5), ctx({ previous: [e(1.5), e(1.2), e(0.9)] }))).toMatchObject({ condition: 'entropy_drop', values: { entropyBefore: 1.5, entropy: 0.5 } });
  // 1.5 → 0.7: 53 %
  expect(check(e(0.7), ctx({ previous: [e(1.5), e(1.2), e(0.9)] }))).toBeNull();
  // Not enough history yet: no rate.
  expect(check(e(0.5), ctx({ previous: [e(1.5), e(0.9)] }))).toBeNull();
});

it('response length drifting past the bounds relative to the starting policy trips, both ways', () => {
  const len = (x: number) => metrics({ [MetricKeys.responseLength]: x });
  expect(check(len(1.6), ctx({ baseline: len(71) }))).toMatchObject({ condition: 'length_drift', values: { length: 1.6, baselineLength: 71 } });
  expect(check(len(31), ctx({ baseline: len(10) }))?.condition).toBe('length_drift');
  expect(check(len(29), ctx({ baseline: len(10) }))).toBeNull();
  expect(check(len(3.1), ctx({ baseline: len(10) }))).toBeNull();
});

it('EOS rate collapsing relative to the starting policy trips; a start that rarely ended is not judged', () => {
  const eos = (x: number) => metrics({ [MetricKeys.eosRate]: x });
  expect(check(eos(0.2), ctx({ baseline: eos(0.9) }))).toMatchObject({ condition: 'eos_collapse', values: { eosRate: 0.2, baselineEosRate: 0.9 } });
  expect(check(eos(0.3), ctx({ baseline: eos(0.9) }))).toBeNull();
  expect(check(eos(0), ctx({ baseline: eos(0.1) }))).toBeNull();
  // A batch of 4: 3 σ of a 0.5 rate is 0.75, so 0.5 → 0 is noise.
  expect(check(eos(0), ctx({ baseline: eos(0.5), batchSize: 4 }))).toBeNull();
  expect(check(eos(0), ctx({ baseline: eos(0.5), batchSize: 64 }))?.condition).toBe('eos_collapse');
  // A baseline from before the metric existed is not judged.
  const { [MetricKeys.eosRate]: _dropped, ...older } = metrics();
  expect(check(eos(0), ctx({ baseline: older as UpdateMetrics }))).toBeNull();
});

it('the reward-model score rising while KL explodes trips (reward hacking); either alone does not', () => {
  const m = (score: number, kl: number) => metrics({ [MetricKeys.scores]: score, [MetricKeys.klObjective]: kl });
  const c = ctx({ baseline: m(0.1, 1) });
  expect(check(m(0.7, 10), c)).toMatchObject({ condition: 'reward_hacking', values: { kl: 10, klBound: 9 } });
  expect(check(m(0.7, 8), c)).toBeNull();
  expect(check(m(0.5, 10), c)).toBeNull();
});

it('a non-finite loss, gradient norm or weight trips before anything else', () => {
  expect(check(metrics({ [MetricKeys.totalLoss]: Number.NaN }))).toMatchObject({ condition: 'non_finite', message: expect.stringContaining('loss/total') });
  expect(check(metrics({ [MetricKeys.policyLoss]: Number.POSITIVE_INFINITY, [MetricKeys.entropy]: 0 }))?.condition).toBe('non_finite');
  expect(check(metrics(), ctx(), true, Number.NaN)).toMatchObject({ condition: 'non_finite', message: expect.stringContaining('gradient norm') });
  expect(check(metrics(), ctx(), true, 3.2)).toBeNull();
  expect(check(metrics(), ctx(), false)).toMatchObject({ condition: 'non_finite', message: expect.stringContaining('weight') });
});

it('history window and config validation', () => {
  expect(historyWindow(cfg)).toBe(3);
  expect(historyWindow({ ...cfg, klPatience: 6 })).toBe(5);
  expect(() => validateGuardConfig({ ...cfg, remedy: 'pray' as GuardConfig['remedy'] })).toThrow(expect.objectContaining({ field: 'guard.remedy' }));
  expect(() => validateGuardConfig({ ...cfg, maxTrips: 0 })).toThrow(expect.objectContaining({ field: 'guard.maxTrips' }));
  expect(() => validateGuardConfig({ ...cfg, temperatureFactor: 1.5 })).toThrow(expect.objectContaining({ field: 'guard.temperatureFactor' }));
  expect(() => validateGuardConfig(cfg)).not.toThrow();
});
