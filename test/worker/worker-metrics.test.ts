/**
 * The workers' `/metrics` and logs, from the real entry points (worker/cpu.ts, worker/gpu.ts) in their
 * own processes on a private Temporal dev server (test/chaos/cluster.ts): each worker's port is scraped
 * over real HTTP and parsed as the Prometheus text format. The GPU worker's training gauges are read
 * while a real run is paused mid-PPO (so the values are the run's own progress, not a race), and are gone
 * once the run has finished. Worker logs are pino JSON lines, the Temporal runtime's included.
 */
import { MetricKeys, PromMetrics } from '../../common/names';
import { type TrainPolicyResult } from '../../contract/run-contract';
import { pauseSignal, progressQuery, resumeSignal } from '../../workflows/messages';
import { ChaosCluster, tinyPatch, until } from '../chaos/cluster';
import { freeLoopbackPort } from '../helpers/browser';
import type { ManagedProcess } from '../helpers/processes';
import { samplesOf, scrape, valueOf, type Exposition } from '../helpers/prometheus';

let cluster: ChaosCluster;
let cpuWorker: ManagedProcess;
let gpuWorker: ManagedProcess;
let cpuUrl: string;
let gpuUrl: string;

beforeAll(async () => {
  cluster = await ChaosCluster.start({ name: 'worker-metrics' });
  const [cpuPort, gpuPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  cpuUrl = `http://127.0.0.1:${cpuPort}/metrics`;
  gpuUrl = `http://127.0.0.1:${gpuPort}/metrics`;
  [cpuWorker, gpuWorker] = await Promise.all([
    cluster.startWorker('cpu', undefined, { WORKER_METRICS_PORT: String(cpuPort) }),
    cluster.startWorker('gpu', undefined, { WORKER_METRICS_PORT: String(gpuPort) }),
  ]);
});
afterAll(async () => {
  await cluster?.dispose();
});

/** Temporal SDK samples (the merged exporter's) of one task queue. */
const temporalSamples = (m: Exposition, taskQueue: string) => m.samples.filter((s) => s.name.startsWith('temporal_') && s.labels.task_queue === taskQueue);

it('each worker serves its process metrics and the Temporal SDK runtime metrics on one port', async () => {
  for (const [url, queue] of [
    [cpuUrl, 'rlhf-cpu'],
    [gpuUrl, 'rlhf-gpu'],
  ] as const) {
    const m = await until(async () => {
      const scraped = await scrape(url);
      // The SDK records its poller metrics once its pollers have started.
      return temporalSamples(scraped, queue).length > 0 ? scraped : undefined;
    }, `temporal metrics of ${queue}`);
    expect(m.types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect([...m.types.keys()].some((name) => name.startsWith('temporal_'))).toBe(true);
    expect(m.samples.every((s) => Number.isFinite(s.value) || s.labels.le === '+Inf' || Number.isNaN(s.value))).toBe(true);
  }
  expect((await fetch(cpuUrl.replace('/metrics', '/other'))).status).toBe(404);
});

it('the GPU worker has training gauges for a run while it trains it, and none once it has finished', async () => {
  const agentId = await cluster.seedAgent(21);
  const run = await cluster.startRun(agentId, tinyPatch(6, 1));
  await until(async () => ((await run.handle.query(progressQuery)).step >= 1 ? true : undefined), 'the first PPO update');
  await run.handle.signal(pauseSignal);
  const paused = await until(async () => {
    const p = await run.handle.query(progressQuery);
    return p.paused ? p : undefined;
  }, 'the run to pause');

  const m = await scrape(gpuUrl);
  const labels = { run_id: run.runId, backend: 'cpu' };
  expect(valueOf(m, PromMetrics.trainingUpdate, labels)).toBe(paused.step);
  expect(valueOf(m, PromMetrics.trainingTotalUpdates, labels)).toBe(6);
  const latest = paused.latestMetrics as Record<string, number>;
  expect(valueOf(m, PromMetrics.trainingReward, labels)).toBeCloseTo(latest[MetricKeys.scores], 12);
  expect(valueOf(m, PromMetrics.trainingKl, labels)).toBeCloseTo(latest[MetricKeys.klObjective], 12);
  expect(valueOf(m, PromMetrics.trainingKlCoef, labels)).toBeCloseTo(latest[MetricKeys.klCoef], 12);
  expect(valueOf(m, PromMetrics.trainingTokensPerSecond, labels)).toBeGreaterThan(0);
  for (const name of [PromMetrics.trainingUpdate, PromMetrics.trainingReward, PromMetrics.trainingKl, PromMetrics.trainingKlCoef, PromMetrics.trainingTokensPerSecond]) {
    expect(m.types.get(name)).toBe('gauge');
  }
  // The CPU worker trains nothing.
  expect(samplesOf(await scrape(cpuUrl), PromMetrics.trainingUpdate)).toHaveLength(0);

  await run.handle.signal(resumeSignal);
  const result = (await run.handle.result()) as TrainPolicyResult;
  expect(result.trainingSteps).toBe(6);
  expect(samplesOf(await scrape(gpuUrl), PromMetrics.trainingUpdate, { run_id: run.runId })).toHaveLength(0);
});

it('workers log pino JSON lines, the Temporal runtime and activity logs included', () => {
  for (const worker of [cpuWorker, gpuWorker]) {
    const lines = worker.output().split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    const notJson = lines.filter((line) => {
      try {
        JSON.parse(line);
        return false;
      } catch {
        return true;
      }
    });
    expect(notJson).toEqual([]);
  }
  const gpuLines = gpuWorker.output().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(gpuLines).toContainEqual(expect.objectContaining({ role: 'gpu', msg: expect.stringMatching(/^gpu worker polling rlhf-gpu/) }));
  // An activity's `log` (activities/ppo-chunk.ts) went through the Temporal runtime's logger into pino.
  expect(gpuLines).toContainEqual(expect.objectContaining({ msg: 'ppo chunk opened', sdkComponent: 'activity', level: 30 }));
});
