/** The GPU worker's per-run training gauges (worker/metrics.ts), read back through prom-client's exposition. */
import { Registry } from 'prom-client';
import { MetricKeys, PromMetrics, type UpdateMetrics } from '../../common/names';
import { TrainingGauges } from '../../worker/metrics';
import { parseExposition, samplesOf, valueOf } from '../helpers/prometheus';

const metrics = (scores: number): UpdateMetrics =>
  Object.fromEntries(Object.values(MetricKeys).map((k) => [k, k === MetricKeys.scores ? scores : k === MetricKeys.klObjective ? 0.25 : k === MetricKeys.klCoef ? 0.2 : 1])) as UpdateMetrics;

it('sets one series per run and drops a run when it ends', async () => {
  const registry = new Registry();
  const gauges = new TrainingGauges(registry, 'wasm');
  gauges.updateDone({ runId: 'run_a', update: 3, totalUpdates: 10, metrics: metrics(0.5), tokensPerSecond: 123.5 });
  gauges.updateDone({ runId: 'run_b', update: 1, totalUpdates: 4, metrics: metrics(-0.5), tokensPerSecond: 99 });
  gauges.updateDone({ runId: 'run_a', update: 4, totalUpdates: 10, metrics: metrics(0.75), tokensPerSecond: 130 });
  let m = parseExposition(await registry.metrics());
  expect(valueOf(m, PromMetrics.trainingUpdate, { run_id: 'run_a', backend: 'wasm' })).toBe(4);
  expect(valueOf(m, PromMetrics.trainingReward, { run_id: 'run_a' })).toBe(0.75);
  expect(valueOf(m, PromMetrics.trainingReward, { run_id: 'run_b' })).toBe(-0.5);
  expect(valueOf(m, PromMetrics.trainingKl, { run_id: 'run_a' })).toBe(0.25);
  expect(valueOf(m, PromMetrics.trainingKlCoef, { run_id: 'run_a' })).toBe(0.2);
  expect(valueOf(m, PromMetrics.trainingTokensPerSecond, { run_id: 'run_a' })).toBe(130);
  expect(valueOf(m, PromMetrics.trainingTotalUpdates, { run_id: 'run_b' })).toBe(4);

  gauges.runEnded('run_a');
  gauges.runEnded('run_a'); // twice: harmless
  m = parseExposition(await registry.metrics());
  for (const name of [PromMetrics.trainingUpdate, PromMetrics.trainingReward, PromMetrics.trainingKl, PromMetrics.trainingKlCoef, PromMetrics.trainingTokensPerSecond, PromMetrics.trainingTotalUpdates]) {
    expect(samplesOf(m, name, { run_id: 'run_a' })).toHaveLength(0);
    expect(samplesOf(m, name, { run_id: 'run_b' })).toHaveLength(1);
  }
});

it('drops, at the next scrape, runs whose last update is older than the staleness bound', async () => {
  const registry = new Registry();
  // A negative bound makes every run stale at once, without waiting on a clock.
  const gauges = new TrainingGauges(registry, 'cpu', -1);
  gauges.updateDone({ runId: 'run_c', update: 1, totalUpdates: 2, metrics: metrics(0), tokensPerSecond: 1 });
  const m = parseExposition(await registry.metrics());
  expect(m.samples.filter((s) => s.labels.run_id === 'run_c')).toEqual([]);
  // With the default bound (an hour) the same run is kept.
  const keptRegistry = new Registry();
  new TrainingGauges(keptRegistry, 'cpu').updateDone({ runId: 'run_c', update: 1, totalUpdates: 2, metrics: metrics(0), tokensPerSecond: 1 });
  expect(valueOf(parseExposition(await keptRegistry.metrics()), PromMetrics.trainingUpdate, { run_id: 'run_c' })).toBe(1);
});
