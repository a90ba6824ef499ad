/**
 * Train and run-control routes against real Postgres and the Temporal dev server. No worker
 * polls the task queue, so a started workflow stays queued: enough for 202/409/signal/cancel.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp } from '../../api/app';
import { estimateDryRun, FLOPS_PER_SECOND_BY_BACKEND, workerBackendOf } from '../../api/dry-run-estimate';
import { loadEnv } from '../../common/env';
import { TaskQueues } from '../../common/names';
import { resolveRunConfig } from '../../spec/run-config';
import { dataAwareConfig } from '../../spec/data-aware-config';
import { TrainingRunRepository } from '../../db/repositories';
import type { TrainPolicyInput } from '../../contract/run-contract';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;
let app: FastifyInstance;
let auth: TestProjectKey;
/** app.inject with the test project's API key (a request's own headers win). */
const inject = (target: FastifyInstance, opts: InjectOptions) => target.inject({ ...opts, headers: { ...auth.headers, ...opts.headers } });
const startedWorkflows: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url }) }, false);
  auth = await createTestProjectKey(db.orm);
});
afterAll(async () => {
  // Leave no open workflows behind on the shared dev server.
  for (const id of startedWorkflows) await app.temporal.workflow.getHandle(id).terminate('test cleanup').catch(() => undefined);
  await app.close();
  await db.dispose();
});

const post = (url: string, payload: object = {}) => inject(app, { method: 'POST', url, payload });

async function seedFeedback(agentId: string, n: number): Promise<number[]> {
  const scores = Array.from({ length: n }, (_, i) => (i % 5) - 2);
  const items = scores.map((score, i) => ({ prompt: `q${i}`, response: `a${i}`, score, runId: 'rt-1' }));
  expect((await post(`/api/policies/feedback/${agentId}/batch`, { items })).statusCode).toBe(201);
  return scores;
}

async function startRun(agentId: string) {
  const res = await post(`/api/policies/train_policy/${agentId}`, { preset: 'quick', maxSteps: 3, seed: 11 });
  expect(res.statusCode).toBe(202);
  const body = res.json();
  startedWorkflows.push(body.workflowId);
  return body as { runId: string; workflowId: string; links: Record<string, string> };
}

describe('POST /api/policies/train_policy/:agentId', () => {
  it('answers 400 with fewer than 10 feedback rows', async () => {
    await seedFeedback('agent-few', 9);
    const res = await post('/api/policies/train_policy/agent-few', { dryRun: true });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'insufficient_feedback' });
  });

  it('dry run: estimates from the preset and reports score statistics', async () => {
    const scores = await seedFeedback('agent-dry', 12);
    const res = await post('/api/policies/train_policy/agent-dry', { dryRun: true, preset: 'small', maxSteps: 7 });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
    const std = Math.sqrt(scores.reduce((a, s) => a + (s - mean) ** 2, 0) / scores.length);
    // At the rate of the workers' backend that the API's environment names (here the test process's);
    // the lengths come from the rows ('q0'.., 'a0'..: 2-3 bytes), not from the preset's block of 128.
    const rate = FLOPS_PER_SECOND_BY_BACKEND[workerBackendOf(loadEnv({ ...process.env, DATABASE_URL: db.url }))];
    const rows = scores.map((score, i) => ({ prompt: `q${i}`, response: `a${i}`, score }));
    const derived = dataAwareConfig(resolveRunConfig('small', { maxSteps: 7 }), rows);
    const expected = estimateDryRun(derived.config, 12, rate);
    expect(body).toMatchObject({ status: 'dry_run', feedbackCount: 12, estimatedSteps: 7, estimatedTimeMinutes: expected.estimatedTimeMinutes });
    expect(body.scoreMean).toBeCloseTo(mean, 10);
    expect(body.scoreStd).toBeCloseTo(std, 10);
    expect(body.modelConfig.preset).toBe('small');
    expect(body.modelConfig.policy).toMatchObject({ nLayer: 2, nHead: 4, nEmbd: 64, blockSize: 32 });
    // The preset's tokenizer is trained on the training split, as the workers will (spec/data-aware-config).
    expect(body.modelConfig.tokenizer).toEqual({ kind: 'bpe', vocabSize: derived.config.policyModel.vocabSize });
    expect(body.modelConfig.policy.vocabSize).toBe(derived.config.policyModel.vocabSize);
    expect(body.lengths).toEqual(derived.lengths);
    expect(body.lengths).toMatchObject({ blockSize: 32 });
    expect(await new TrainingRunRepository(db.orm.em.fork()).findActive('agent-dry')).toBeNull();
  });

  it('answers 400 naming the field and the numbers when the feedback cannot fit the model', async () => {
    // Text BPE cannot shorten much: 1100 CJK characters drawn over 20,000 code points (3 UTF-8 bytes each).
    const cjk = (i: number, n: number) => Array.from({ length: n }, (_, j) => String.fromCodePoint(0x4e00 + ((i * 7919 + j * 104729) % 20000))).join('');
    const items = Array.from({ length: 10 }, (_, i) => ({ prompt: cjk(i, 1100), response: cjk(i + 50, 60), score: i, runId: 'rt-long' }));
    expect((await post('/api/policies/feedback/agent-long/batch', { items })).statusCode).toBe(201);
    const res = await post('/api/policies/train_policy/agent-long', { dryRun: true });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'feedback_does_not_fit', field: 'policyModel.blockSize' });
    expect(res.json().message).toMatch(/95th-percentile prompt \d{4} tokens \+ maxNewTokens \d+ \+ BOS = \d{4} > policyModel.blockSize 1024/);
  });

  it('rejects bad knobs naming the field', async () => {
    await seedFeedback('agent-knobs', 10);
    for (const [payload, field] of [
      [{ preset: 'huge' }, 'preset'],
      [{ maxSteps: 0 }, 'maxSteps'],
      [{ maxSteps: 1.5 }, 'maxSteps'],
      [{ learningRate: -1 }, 'learningRate'],
      [{ dryRun: 'yes' }, 'dryRun'],
      [{ seed: -1 }, 'seed'],
      [{ seed: 0.5 }, 'seed'],
    ] as const) {
      const res = await post('/api/policies/train_policy/agent-knobs', payload);
      expect({ status: res.statusCode, field: res.json().field }).toEqual({ status: 400, field });
    }
  });

  it('starts a workflow (202) with the run row, task queue and search attribute; 409 while active', async () => {
    await seedFeedback('agent-run', 10);
    const started = await startRun('agent-run');
    expect(started.runId).toMatch(/^run_[A-Za-z0-9_-]{20}$/);
    expect(started.workflowId).toBe(`train-${started.runId}`);
    expect(started.links).toMatchObject({ self: `/api/runs/${started.runId}`, cancel: `/api/runs/${started.runId}/cancel` });

    const description = await app.temporal.workflow.getHandle(started.workflowId).describe();
    expect(description.taskQueue).toBe(TaskQueues.cpu);
    expect(description.type).toBe('trainPolicyWorkflow');
    expect(description.searchAttributes.AgentId).toEqual(['agent-run']);
    const row = await new TrainingRunRepository(db.orm.em.fork()).get(started.runId);
    expect(row).toMatchObject({ agentId: 'agent-run', status: 'queued', config: { preset: 'quick', maxSteps: 3, seed: 11 } });

    const again = await post('/api/policies/train_policy/agent-run', {});
    expect(again.statusCode).toBe(409);
    // The active run is named, so a client whose 202 was lost can follow the run it started.
    expect(again.json()).toMatchObject({ error: 'run_active', field: 'agentId', runId: started.runId });
  });

  it('passes RLHF_TRAINING_HEARTBEAT_TIMEOUT_S to the workflow input in ms, and nothing when unset', async () => {
    const inputOf = async (workflowId: string): Promise<TrainPolicyInput> => {
      const history = await app.temporal.workflow.getHandle(workflowId).fetchHistory();
      const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      return defaultPayloadConverter.fromPayload<TrainPolicyInput>(payload!);
    };
    await seedFeedback('agent-hb-default', 10);
    expect(await inputOf((await startRun('agent-hb-default')).workflowId)).not.toHaveProperty('trainingHeartbeatTimeoutMs');

    const slow = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url, RLHF_TRAINING_HEARTBEAT_TIMEOUT_S: '45' }) }, false);
    try {
      await seedFeedback('agent-hb-env', 10);
      const res = await inject(slow, { method: 'POST', url: '/api/policies/train_policy/agent-hb-env', payload: { preset: 'quick' } });
      expect(res.statusCode).toBe(202);
      startedWorkflows.push(res.json().workflowId);
      expect(await inputOf(res.json().workflowId)).toMatchObject({ trainingHeartbeatTimeoutMs: 45_000 });
    } finally {
      await slow.close();
    }
  });
});

describe('/api/runs/:runId', () => {
  it('GET shows the row, the workflow status and why there is no progress yet', async () => {
    await seedFeedback('agent-get', 10);
    const { runId, workflowId } = await startRun('agent-get');
    const res = await inject(app, { method: 'GET', url: `/api/runs/${runId}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      runId,
      workflowId,
      agentId: 'agent-get',
      status: 'queued',
      workflowStatus: 'RUNNING',
      progress: null,
      progressUnavailable: 'no worker has picked up the run yet',
      result: null,
    });
  });

  it('GET answers 404 for an unknown run and 400 for a bad id', async () => {
    const res = await inject(app, { method: 'GET', url: '/api/runs/run_doesnotexist' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'not_found', field: 'runId' });
    expect((await inject(app, { method: 'GET', url: '/api/runs/..%2F..%2Fetc' })).statusCode).toBe(400);
  });

  it('pause, resume, kl and cancel are delivered to the workflow (202)', async () => {
    await seedFeedback('agent-ctl', 10);
    const { runId, workflowId } = await startRun('agent-ctl');
    for (const action of ['pause', 'resume']) {
      const res = await post(`/api/runs/${runId}/${action}`);
      expect({ action, status: res.statusCode, body: res.json() }).toEqual({ action, status: 202, body: { runId, status: 'accepted', action } });
    }
    expect((await post(`/api/runs/${runId}/kl`, { coef: 0.05, target: 3 })).statusCode).toBe(202);
    expect((await post(`/api/runs/${runId}/cancel`)).statusCode).toBe(202);

    const history = await app.temporal.workflow.getHandle(workflowId).fetchHistory();
    const signals = (history.events ?? [])
      .map((e) => e.workflowExecutionSignaledEventAttributes?.signalName)
      .filter((name): name is string => Boolean(name));
    expect(signals).toEqual(['pause', 'resume', 'setKl']);
    expect((history.events ?? []).some((e) => e.workflowExecutionCancelRequestedEventAttributes)).toBe(true);
  });

  it('kl requires at least one positive finite number', async () => {
    await seedFeedback('agent-kl', 10);
    const { runId } = await startRun('agent-kl');
    for (const [payload, field] of [
      [{}, undefined],
      [{ coef: 0 }, 'coef'],
      [{ target: -3 }, 'target'],
      [{ coef: 'big' }, 'coef'],
    ] as const) {
      const res = await post(`/api/runs/${runId}/kl`, payload);
      expect({ status: res.statusCode, field: res.json().field, error: res.json().error }).toEqual({ status: 400, field, error: 'validation_error' });
    }
    const inf = await inject(app, { method: 'POST', url: `/api/runs/${runId}/kl`, payload: '{"coef":1e999}', headers: { 'content-type': 'application/json' } });
    expect(inf.statusCode).toBe(400);
  });

  it('control of a finished run answers 409, whether the DB or only Temporal knows it finished', async () => {
    await seedFeedback('agent-done', 10);
    const first = await startRun('agent-done');
    await new TrainingRunRepository(db.orm.em.fork()).setStatus(first.runId, 'completed');
    for (const action of ['pause', 'resume', 'cancel']) {
      const res = await post(`/api/runs/${first.runId}/${action}`);
      expect({ action, status: res.statusCode, error: res.json().error }).toEqual({ action, status: 409, error: 'run_finished' });
    }
    expect((await post(`/api/runs/${first.runId}/kl`, { coef: 0.1 })).statusCode).toBe(409);

    // Terminated behind the API's back: the row is still queued until the API looks.
    const second = await startRun('agent-done');
    await app.temporal.workflow.getHandle(second.workflowId).terminate('operator stop');
    const res = await post(`/api/runs/${second.runId}/pause`);
    expect(res.statusCode).toBe(409);
    const view = (await inject(app, { method: 'GET', url: `/api/runs/${second.runId}` })).json();
    expect(view).toMatchObject({ status: 'failed', workflowStatus: 'TERMINATED', error: 'workflow terminated' });
    // The agent is free again.
    await startRun('agent-done');
  });

  it('control of an unknown run answers 404', async () => {
    const res = await post('/api/runs/run_nothinghere/pause');
    expect(res.statusCode).toBe(404);
  });
});
