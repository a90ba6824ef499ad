/**
 * Fault test 6 (issue 5): the API process (`api/server.ts`, a real process on a loopback
 * port) is killed with SIGKILL while a run trains, and started again; progress, pause and
 * cancel then work against the same run through the new process. The API holds no run
 * state of its own: the run is the Temporal workflow plus its database row.
 */
import { PolicyVersionRepository } from '../../db/repositories';
import { RunPhases } from '../../common/names';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import type { RunProgress } from '../../contract/run-contract';
import { createTestProjectKey } from '../helpers/auth';
import { freeLoopbackPort } from '../helpers/browser';
import { waitForPort, type ManagedProcess } from '../helpers/processes';
import { ChaosCluster, tinyPatch, until } from './cluster';

let cluster: ChaosCluster;
let api: ManagedProcess;
let port: number;
let headers: Record<string, string>;

interface RunView {
  status: string;
  progress: RunProgress | null;
  progressUnavailable: string | null;
}

/** Starts api/server.ts on `port`; resolves once it answers /healthz. Returns seconds taken. */
async function startApi(): Promise<number> {
  const started = Date.now();
  api = cluster.processes.spawnTsx('api', 'api/server.ts', { env: cluster.processEnv({ API_HOST: '127.0.0.1', API_PORT: String(port) }) });
  await waitForPort(port);
  await until(async () => ((await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok ? true : undefined), 'the API health check', 60_000);
  return (Date.now() - started) / 1000;
}

async function call(method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}${url}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

const runView = async (runId: string): Promise<RunView> => {
  const { status, json } = await call('GET', `/api/runs/${runId}`);
  expect(status).toBe(200);
  return json as RunView;
};

beforeAll(async () => {
  cluster = await ChaosCluster.start({ name: 'chaos-api-restart' });
  port = await freeLoopbackPort();
  headers = (await createTestProjectKey(cluster.orm)).headers;
  await Promise.all([cluster.startWorker('cpu'), cluster.startWorker('gpu'), startApi()]);
}, 180_000);

afterAll(async () => {
  await cluster?.dispose();
});

it('(6) API process killed (SIGKILL) during a run and restarted, twice: progress, pause and cancel reach the same run', async () => {
  const agentId = 'agent-api-restart';
  const rows = makeSyntheticFeedback(40, new Rng(6)).map((r) => ({ ...r, runId: 'seed' }));
  expect((await call('POST', `/api/policies/feedback/${agentId}/batch`, { items: rows })).status).toBe(201);
  // One update per chunk, so a pause takes effect after the update in flight.
  const run = await cluster.startRun(agentId, tinyPatch(40, 1));
  await until(async () => ((await runView(run.runId)).progress?.step ?? 0) >= 1 || undefined, 'PPO progress through the first API process');

  // Killed WHEN: mid-PPO. CHECKED: the new process answers progress of the same, still advancing run.
  await api.kill9();
  const firstRestartS = await startApi();
  const afterRestart = await runView(run.runId);
  expect(afterRestart.progress).toMatchObject({ runId: run.runId, agentId, phase: RunPhases.ppo, paused: false });
  const stepAtRestart = afterRestart.progress!.step;
  await until(async () => ((await runView(run.runId)).progress!.step > stepAtRestart ? true : undefined), 'progress to advance after the restart');

  expect((await call('POST', `/api/runs/${run.runId}/pause`)).status).toBe(202);
  const paused = await until(async () => {
    const view = await runView(run.runId);
    return view.status === 'paused' && view.progress?.paused ? view : undefined;
  }, 'the run to pause');

  // Killed again while paused. CHECKED: the new process sees the pause and can cancel the run.
  await api.kill9();
  const secondRestartS = await startApi();
  const stillPaused = await runView(run.runId);
  expect(stillPaused).toMatchObject({ status: 'paused', progress: { paused: true, step: paused.progress!.step } });
  expect((await call('POST', `/api/runs/${run.runId}/cancel`)).status).toBe(202);
  const cancelled = await until(async () => {
    const view = await runView(run.runId);
    return view.status === 'cancelled' ? view : undefined;
  }, 'the run to be cancelled');
  expect(cancelled.progress?.phase ?? RunPhases.cancelled).toBe(RunPhases.cancelled);
  await expect(run.handle.result()).rejects.toMatchObject({ cause: { name: 'CancelledFailure' } });
  expect(await new PolicyVersionRepository(cluster.orm.em.fork()).listByAgent(agentId)).toEqual([]);
  console.info(`[chaos 6] API killed twice (mid-PPO, then while paused); back up in ${firstRestartS.toFixed(1)} s and ${secondRestartS.toFixed(1)} s; progress, pause and cancel reached the same run`);
});
