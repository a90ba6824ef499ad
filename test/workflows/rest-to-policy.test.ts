/**
 * The product's main path through its public surface: feedback posted over REST, a run started
 * over REST, progress read over REST until the run completes, then the PolicyVersion listed over
 * REST and the seed-layout files on disk — with the real API (app.inject), real Postgres, the real
 * Temporal dev server and real CPU/GPU workers running the real activities. The API is given its
 * own task queues so the workers here never pick up runs other test files leave queued.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { MetricKeys, RunPhases } from '../../common/names';
import { initBackend } from '../../ml/backend';
import { generateText, loadPolicy } from '../../ml/policy-export';
import { Rng } from '../../ml/rng';
import { readTrainingResults } from '../../ml/training-results';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { LocalArtifactStore, policyKey } from '../../storage/artifact-store';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { connectTestEnv, eventually, uniqueId, uniqueQueues, withWorkers } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let root: string;
let store: LocalArtifactStore;
let app: FastifyInstance;
let auth: TestProjectKey;
const queues = uniqueQueues();

beforeAll(async () => {
  await initBackend({ log: () => undefined });
  env = await connectTestEnv();
  db = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), 'rest-to-policy-'));
  store = new LocalArtifactStore(root);
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url, ARTIFACT_ROOT: root }), taskQueues: queues }, false);
  auth = await createTestProjectKey(db.orm);
});

afterAll(async () => {
  await app?.close();
  await db?.dispose();
  await env?.teardown();
  await rm(root, { recursive: true, force: true });
});

const call = (opts: InjectOptions) => app.inject({ ...opts, headers: { ...auth.headers, ...opts.headers } });

interface RunBody {
  status: string;
  progress: { phase: string; step: number; total: number } | null;
  result: Record<string, unknown> | null;
}

it('REST feedback → REST train_policy (202) → progress → completed run with a PolicyVersion and seed-layout files', async () => {
  const agentId = uniqueId('rest-agent');
  const rows = makeSyntheticFeedback(100, new Rng(31), { noiseStd: 0.05 });
  const posted = await call({ method: 'POST', url: `/api/policies/feedback/${agentId}/batch`, payload: { items: rows.map((r) => ({ ...r, runId: 'rest-e2e' })) } });
  expect(posted.statusCode).toBe(201);

  await withWorkers(env, { orm: db.orm, store, queues }, async () => {
    const started = await call({ method: 'POST', url: `/api/policies/train_policy/${agentId}`, payload: { preset: 'quick', maxSteps: 2, seed: 5, learningRate: 1e-12 } });
    expect(started.statusCode).toBe(202);
    const { runId } = started.json() as { runId: string };

    // Poll as a client would; remember every phase the progress answer showed.
    const phasesSeen = new Set<string>();
    const finished = await eventually(
      async () => {
        const res = await call({ method: 'GET', url: `/api/runs/${runId}` });
        expect(res.statusCode).toBe(200);
        const body = res.json() as RunBody;
        if (body.progress) phasesSeen.add(body.progress.phase);
        // A completed run is done for a client once its result is there (the API waits for it briefly).
        if (body.status === 'completed') return body.result ? body : undefined;
        return ['failed', 'cancelled'].includes(body.status) ? body : undefined;
      },
      'the run to finish',
      280_000,
    );
    expect(finished.status).toBe('completed');
    expect(phasesSeen.size).toBeGreaterThan(0);
    expect([...phasesSeen].every((p) => (Object.values(RunPhases) as string[]).includes(p))).toBe(true);

    // The seed's `trained` answer, now read from the run.
    expect(finished.result).toMatchObject({ status: 'trained', runId, version: 'v1', feedbackCount: 100, trainingSteps: 2 });
    expect(finished.result?.rewardMean).toEqual(expect.any(Number));
    expect(finished.result?.rewardStd).toEqual(expect.any(Number));

    const listed = await call({ method: 'GET', url: `/api/policies/${agentId}` });
    expect(listed.statusCode).toBe(200);
    const policies = (listed.json() as { policies: Array<Record<string, unknown>> }).policies;
    expect(policies).toHaveLength(1);
    expect(policies[0]).toMatchObject({ version: 'v1', modelKey: finished.result?.modelKey });
    // Store keys, not this machine's paths (issue 16): nothing in either answer names the store's root.
    expect(finished.result?.modelKey).toBe(policyKey(agentId, 'v1', 'policy'));
    expect(finished.result?.rewardModelKey).toBe(policyKey(agentId, 'v1', 'reward_model'));
    expect(JSON.stringify(finished)).not.toContain(root);
    expect(listed.body).not.toContain(root);
    expect((policies[0].metrics as Record<string, unknown>).rewardMean).toEqual(finished.result?.rewardMean);

    // models/{agentId}/{version}/ in the seed's layout, and the policy loads and generates.
    expect((await readdir(store.resolve(policyKey(agentId, 'v1')))).sort()).toEqual(['policy', 'reward_model', 'training_results.json']);
    // The evaluation phase: its report is in the run's result, the version's metrics and
    // training_results.json. This run's PPO step is ~0 (learningRate 1e-12), so its final policy
    // samples what its start does: no gain, and the run is saved but marked not_improved.
    const evaluation = finished.result?.evaluation as { verdict: string; reason: string | null; rewardGain: { mean: number }; pairs: unknown[] };
    expect(evaluation).toMatchObject({ verdict: 'not_improved', significant: false, samplesPerPrompt: 4 });
    expect(evaluation.reason).toMatch(/not above 0/);
    expect(evaluation.rewardGain.mean).toBeCloseTo(0, 6);
    expect(evaluation.pairs.length).toBeGreaterThan(0);
    expect((policies[0].metrics as Record<string, unknown>).evaluation).toEqual(evaluation);
    const results = await readTrainingResults(store.resolve(policyKey(agentId, 'v1')));
    expect(results.evaluation).toEqual(evaluation);

    const loaded = await loadPolicy(store.resolve(String(finished.result?.modelKey)));
    try {
      const text = generateText(loaded.policy, loaded.tokenizer, 'Q3: ', { maxNewTokens: 8, temperature: 1, topK: 0, topP: 1 }, new Rng(2));
      expect(typeof text).toBe('string');
    } finally {
      loaded.policy.dispose();
    }

    // Completed runs still answer progress, ending on the final step with the last metrics.
    const last = (await call({ method: 'GET', url: `/api/runs/${runId}` })).json() as RunBody & { progress: { latestMetrics: Record<string, number> } };
    expect(last.progress).toMatchObject({ phase: RunPhases.completed, step: 2, total: 2 });
    expect(last.progress.latestMetrics[MetricKeys.klCoef]).toEqual(expect.any(Number));
  });
});
