/**
 * Serving and A/B (issue 13) against real processes' pieces: the serving app listening on a port
 * (fetch over HTTP), the API app (app.inject), one real Postgres database and an artifact store
 * holding two tiny policy versions written by ml/policy-export.
 */
import { promises as fs } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp } from '../../api/app';
import { loadEnv, type Env } from '../../common/env';
import { FeedbackRepository, PolicyVersionRepository } from '../../db/repositories';
import { initBackend } from '../../ml/backend';
import { GptModel } from '../../ml/model';
import { savePolicy } from '../../ml/policy-export';
import { Rng } from '../../ml/rng';
import { ByteTokenizer } from '../../ml/tokenizer';
import { buildServeApp } from '../../serve/app';
import { policyKey } from '../../storage/artifact-keys';
import { tinyRunConfig } from '../ml/fixtures/ppo-setup';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { testArtifactRoot } from '../helpers/services';

const AGENT = 'agent-serve';
let db: TestDatabase;
let env: Env;
let api: FastifyInstance;
let serve: FastifyInstance;
let serveUrl: string;
let owner: TestProjectKey;
let other: TestProjectKey;
let artifactRoot: string;

/** Writes a tiny policy as `{agent}/{version}/policy` and registers the version. */
async function publishVersion(agentId: string, seed: number): Promise<string> {
  const config = tinyRunConfig();
  const model = GptModel.create(config.policyModel, new Rng(seed));
  const repo = new PolicyVersionRepository(db.orm.em.fork());
  const row = await repo.saveForRun({
    agentId,
    trainingRunId: `run_serve_${agentId}_${seed}`,
    modelKey: 'unused',
    rewardModelKey: 'unused',
    feedbackCount: 10,
    rewardMean: 0,
    rewardStd: 1,
    metrics: {},
  });
  await savePolicy(path.join(artifactRoot, ...policyKey(agentId, row.version, 'policy').split('/')), model, new ByteTokenizer(), config);
  model.dispose();
  return row.version;
}

const apiCall = (key: TestProjectKey, opts: InjectOptions) => api.inject({ ...opts, headers: { ...key.headers, ...opts.headers } });

/** A generate answer, or an error body. */
interface Answer {
  version: string;
  requestId: string;
  completions: { text: string; tokens: number; finishReason: string }[];
  error?: string;
  field?: string;
  message?: string;
}

async function generate(body: Record<string, unknown>, key: TestProjectKey = owner, agentId = AGENT): Promise<{ status: number; json: Answer }> {
  const res = await fetch(`${serveUrl}/v1/agents/${agentId}/generate`, {
    method: 'POST',
    headers: { ...key.headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Answer };
}

const feedback = (key: TestProjectKey, agentId: string, extra: Record<string, unknown>) =>
  apiCall(key, { method: 'POST', url: `/api/policies/feedback/${agentId}`, payload: { prompt: 'p', response: 'r', score: 1, runId: 'rt-1', ...extra } });

beforeAll(async () => {
  await initBackend({ log: () => undefined });
  db = await createTestDatabase();
  artifactRoot = testArtifactRoot('serving');
  env = loadEnv({ ...process.env, DATABASE_URL: db.url, ARTIFACT_ROOT: artifactRoot });
  api = await buildApp({ env }, false);
  serve = await buildServeApp({ env }, false);
  await serve.listen({ host: '127.0.0.1', port: 0 });
  serveUrl = `http://127.0.0.1:${(serve.server.address() as AddressInfo).port}`;
  owner = await createTestProjectKey(db.orm);
  other = await createTestProjectKey(db.orm);
  // The first feedback row gives the agent to the owner's project.
  expect((await feedback(owner, AGENT, {})).statusCode).toBe(201);
  expect(await publishVersion(AGENT, 1)).toBe('v1');
  expect(await publishVersion(AGENT, 2)).toBe('v2');
}, 60_000);

afterAll(async () => {
  await serve?.close();
  await api?.close();
  await db?.dispose();
});

describe('generate', () => {
  it('answers with the newest version before any deployment, and with a named version', async () => {
    const latest = await generate({ prompt: 'Hello', seed: 3 });
    expect(latest.status).toBe(200);
    expect(latest.json.version).toBe('v2');
    expect(latest.json.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(latest.json.completions).toHaveLength(1);
    const [c] = latest.json.completions;
    expect(c.tokens).toBeGreaterThanOrEqual(1);
    expect(c.tokens).toBeLessThanOrEqual(6); // the policy's trained maxNewTokens
    expect(['stop', 'length']).toContain(c.finishReason);
    const named = await generate({ prompt: 'Hello', version: 'v1', n: 3, maxNewTokens: 4 });
    expect(named.status).toBe(200);
    expect(named.json.version).toBe('v1');
    expect(named.json.completions).toHaveLength(3);
    for (const x of named.json.completions) expect(x.tokens).toBeLessThanOrEqual(4);
  });

  it('gives the same completions for the same seed, also while other requests are batched', async () => {
    const body = { prompt: 'Same seed', seed: 42, n: 2, version: 'v1' };
    const [a, , b] = await Promise.all([generate(body), generate({ prompt: 'noise', n: 4, version: 'v1' }), generate(body)]);
    expect(a.json.completions).toEqual(b.json.completions);
    expect(a.json.requestId).not.toBe(b.json.requestId);
  });

  it('batches concurrent unseeded requests into fewer forward passes', async () => {
    const before = (await (await fetch(`${serveUrl}/healthz`)).json()) as { batches: { batches: number; rows: number } };
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => generate({ prompt: `q${i}`, version: 'v2' })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const after = (await (await fetch(`${serveUrl}/healthz`)).json()) as { batches: { batches: number; rows: number }; policies: { loaded: number } };
    expect(after.batches.rows - before.batches.rows).toBe(8);
    expect(after.batches.batches - before.batches.batches).toBeLessThan(8);
    expect(after.policies.loaded).toBe(2);
  });

  it.each([
    ['an empty prompt', { prompt: '' }, 'prompt'],
    ['too many completions', { prompt: 'x', n: 99 }, 'n'],
    ['a temperature out of range', { prompt: 'x', temperature: 5 }, 'temperature'],
    ['an unknown field', { prompt: 'x', beams: 2 }, 'beams'],
    ['a malformed version', { prompt: 'x', version: 'latest' }, 'version'],
  ])('refuses %s with 400 naming the field', async (_what, body, field) => {
    const res = await generate(body);
    expect(res.status).toBe(400);
    expect(res.json.field).toBe(field);
  });

  it('refuses a prompt longer than the block leaves, and a length past the block, naming the numbers', async () => {
    const long = await generate({ prompt: 'x'.repeat(40) });
    expect(long.status).toBe(400);
    expect(long.json).toMatchObject({ error: 'prompt_too_long', field: 'prompt' });
    expect(long.json.message).toContain('40 tokens');
    const tooMany = await generate({ prompt: 'x', maxNewTokens: 100 });
    expect(tooMany.status).toBe(400);
    expect(tooMany.json).toMatchObject({ error: 'max_new_tokens_too_large', field: 'maxNewTokens' });
  });

  it('answers 404 for an unknown version, another project\'s agent, and a version missing from the store', async () => {
    expect(await generate({ prompt: 'x', version: 'v9' })).toMatchObject({ status: 404, json: { field: 'version' } });
    expect((await generate({ prompt: 'x' }, other)).status).toBe(404);
    const res = await fetch(`${serveUrl}/v1/agents/${AGENT}/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"x"}' });
    expect(res.status).toBe(401);

    const gone = await publishVersion(AGENT, 3); // v3, then its files go
    await fs.rm(path.join(artifactRoot, AGENT, gone), { recursive: true });
    const missing = await generate({ prompt: 'x', version: gone });
    expect(missing.status).toBe(404);
    expect(missing.json).toMatchObject({ error: 'not_found', field: 'version' });
    expect(JSON.stringify(missing.json)).not.toContain(artifactRoot);
  });
});

describe('OpenAI-style /v1/completions', () => {
  const completions = async (body: Record<string, unknown>) => {
    const res = await fetch(`${serveUrl}/v1/completions`, { method: 'POST', headers: { ...owner.headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> & { choices: { text: string; finish_reason: string; index: number }[]; usage: Record<string, number> } };
  };

  it('answers in the Completions shape, with the version in `model` and the requestId as `id`', async () => {
    const res = await completions({ model: `${AGENT}:v1`, prompt: 'Hello', max_tokens: 4, n: 2, seed: 5, user: 'u-1' });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ object: 'text_completion', model: `${AGENT}:v1` });
    expect(res.json.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.json.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(res.json.usage.prompt_tokens).toBe(5); // "Hello", one byte a token
    expect(res.json.usage.total_tokens).toBe(res.json.usage.prompt_tokens + res.json.usage.completion_tokens);
    // The same seed through the native route gives the same texts.
    const native = await generate({ prompt: 'Hello', maxNewTokens: 4, n: 2, seed: 5, version: 'v1' });
    expect(res.json.choices.map((c) => c.text)).toEqual(native.json.completions.map((c) => c.text));
  });

  it('names the OpenAI fields in errors', async () => {
    expect((await completions({ model: `${AGENT}:v1`, prompt: 'x', max_tokens: 100 })).json).toMatchObject({ field: 'max_tokens' });
    expect((await completions({ model: `${AGENT}:v9`, prompt: 'x' })).json).toMatchObject({ error: 'not_found', field: 'model' });
    expect((await completions({ model: `${AGENT}:v1`, prompt: 'x', stream: true })).json).toMatchObject({ field: 'stream' });
    expect((await completions({ model: 'a/b', prompt: 'x' })).status).toBe(400);
  });
});

describe('deployment', () => {
  const put = (payload: unknown) => apiCall(owner, { method: 'PUT', url: `/api/policies/${AGENT}/deployment`, payload: payload as object });

  it('refuses weights that do not sum to 1, a repeated version and an unknown one, naming the field', async () => {
    expect((await put({ variants: [{ version: 'v1', weight: 0.5 }, { version: 'v2', weight: 0.4 }] })).json()).toMatchObject({ error: 'weights_do_not_sum_to_one', field: 'variants' });
    expect((await put({ variants: [{ version: 'v1', weight: 0.5 }, { version: 'v1', weight: 0.5 }] })).json()).toMatchObject({ error: 'duplicate_version', field: 'variants.1.version' });
    const unknown = await put({ variants: [{ version: 'v1', weight: 0.5 }, { version: 'v77', weight: 0.5 }] });
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json()).toMatchObject({ error: 'unknown_version', field: 'variants.1.version' });
    expect((await put({ variants: [{ version: 'v1', weight: 0 }] })).json()).toMatchObject({ field: 'variants.0.weight' });
    expect((await apiCall(other, { method: 'PUT', url: `/api/policies/${AGENT}/deployment`, payload: { variants: [{ version: 'v1', weight: 1 }] } })).statusCode).toBe(404);
    expect((await apiCall(owner, { method: 'GET', url: `/api/policies/${AGENT}/deployment` })).statusCode).toBe(404);
  });

  it('serves a sticky 90/10 split: one subject, one version; both versions in use', async () => {
    const set = await put({ variants: [{ version: 'v1', weight: 0.9 }, { version: 'v2', weight: 0.1 }], sticky: 'subject' });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({ action: 'set', sticky: 'subject', variants: [{ version: 'v1', weight: 0.9 }, { version: 'v2', weight: 0.1 }] });
    const seen = new Map<string, string>();
    for (let i = 0; i < 40; i++) {
      const subject = `user-${i}`;
      const a = await generate({ prompt: 'hi', subject, maxNewTokens: 1 });
      const b = await generate({ prompt: 'hi', subject, maxNewTokens: 1 });
      expect(b.json.version).toBe(a.json.version);
      seen.set(subject, a.json.version);
    }
    const counts = [...seen.values()].reduce((m, v) => m.set(v, (m.get(v) ?? 0) + 1), new Map<string, number>());
    expect(counts.get('v1')).toBeGreaterThan(counts.get('v2') ?? 0);
  });

  it('promotes, rolls back, keeps the history, and refuses a rollback with nothing before it', async () => {
    const promoted = await apiCall(owner, { method: 'POST', url: `/api/policies/${AGENT}/deployment/promote`, payload: { version: 'v2' } });
    expect(promoted.json()).toMatchObject({ action: 'promote', variants: [{ version: 'v2', weight: 1 }], sticky: 'subject' });
    expect((await generate({ prompt: 'hi', subject: 'user-1', maxNewTokens: 1 })).json.version).toBe('v2');

    const back = await apiCall(owner, { method: 'POST', url: `/api/policies/${AGENT}/deployment/rollback`, payload: {} });
    expect(back.json()).toMatchObject({ action: 'rollback', variants: [{ version: 'v1', weight: 0.9 }, { version: 'v2', weight: 0.1 }] });
    const current = await apiCall(owner, { method: 'GET', url: `/api/policies/${AGENT}/deployment` });
    expect(current.json().changeId).toBe(back.json().changeId);

    const history = (await apiCall(owner, { method: 'GET', url: `/api/policies/${AGENT}/deployment/history` })).json();
    expect(history.changes.map((c: { action: string }) => c.action)).toEqual(['rollback', 'promote', 'set']);
    expect(new Date(history.changes[0].changedAt).getTime()).toBeGreaterThanOrEqual(new Date(history.changes[2].changedAt).getTime());

    expect((await apiCall(owner, { method: 'POST', url: `/api/policies/${AGENT}/deployment/promote`, payload: { version: 'v42' } })).statusCode).toBe(404);
    // A fresh agent of the project: one change, nothing to roll back to.
    expect((await feedback(owner, 'agent-serve-2', {})).statusCode).toBe(201);
    const v1 = await publishVersion('agent-serve-2', 5);
    await apiCall(owner, { method: 'POST', url: '/api/policies/agent-serve-2/deployment/promote', payload: { version: v1 } });
    const none = await apiCall(owner, { method: 'POST', url: '/api/policies/agent-serve-2/deployment/rollback', payload: {} });
    expect(none.statusCode).toBe(409);
    expect(none.json()).toMatchObject({ error: 'nothing_to_roll_back' });
  });
});

describe('attribution and the A/B report', () => {
  it('ties feedback to the version that answered, and refuses requests of other agents, projects or too old', async () => {
    const answer = await generate({ prompt: 'rate me', version: 'v1' });
    const ok = await feedback(owner, AGENT, { requestId: answer.json.requestId });
    expect(ok.statusCode).toBe(201);
    const rows = (await apiCall(owner, { method: 'GET', url: `/api/policies/feedback/${AGENT}?limit=200` })).json().items;
    expect(rows.find((r: { id: string }) => r.id === ok.json().id)).toMatchObject({ policyVersion: 'v1', requestId: answer.json.requestId });

    expect((await feedback(owner, AGENT, { requestId: answer.json.requestId, policyVersion: 'v2' })).json()).toMatchObject({ error: 'policy_version_mismatch', field: 'policyVersion' });
    expect((await feedback(owner, AGENT, { requestId: '00000000-0000-4000-8000-000000000000' })).json()).toMatchObject({ error: 'unknown_request', field: 'requestId' });
    // Another agent of the same project cannot claim this request.
    expect((await feedback(owner, 'agent-serve-2', { requestId: answer.json.requestId })).json()).toMatchObject({ error: 'unknown_request', field: 'requestId' });
    // Another project: its own agent, the owner's request id → refused; the owner's agent → 404.
    expect((await feedback(other, 'agent-of-other', { requestId: answer.json.requestId })).json()).toMatchObject({ error: 'unknown_request' });
    expect((await feedback(other, AGENT, { requestId: answer.json.requestId })).statusCode).toBe(404);
    // In a batch the field is the item's.
    const batch = await apiCall(owner, {
      method: 'POST',
      url: `/api/policies/feedback/${AGENT}/batch`,
      payload: { items: [{ prompt: 'p', response: 'r', score: 1, runId: 'x' }, { prompt: 'p', response: 'r', score: 1, runId: 'x', policyVersion: 'v99' }] },
    });
    expect(batch.json()).toMatchObject({ error: 'unknown_version', field: 'items.1.policyVersion' });

    const old = await generate({ prompt: 'old', version: 'v1' });
    await db.orm.em.fork().getConnection().execute(`update generation_request set created_at = now() - interval '31 days' where id = ?`, [old.json.requestId]);
    expect((await feedback(owner, AGENT, { requestId: old.json.requestId })).json()).toMatchObject({ error: 'request_too_old', field: 'requestId' });
  });

  it('reports a known difference between versions as better, with intervals', async () => {
    const agent = 'agent-ab-report';
    expect((await feedback(owner, agent, {})).statusCode).toBe(201);
    await publishVersion(agent, 11);
    await publishVersion(agent, 12);
    await apiCall(owner, { method: 'PUT', url: `/api/policies/${agent}/deployment`, payload: { variants: [{ version: 'v1', weight: 0.5 }, { version: 'v2', weight: 0.5 }] } });
    // Seeded scores: v2 is 0.5 better on average, sd 1, 60 rows each (the difference's se is 0.18).
    const rng = new Rng(2026);
    const items = [];
    for (let i = 0; i < 60; i++) {
      items.push({ prompt: 'p', response: 'r', runId: 'x', policyVersion: 'v1', score: rng.normal() });
      items.push({ prompt: 'p', response: 'r', runId: 'x', policyVersion: 'v2', score: 0.5 + rng.normal() });
    }
    expect((await apiCall(owner, { method: 'POST', url: `/api/policies/feedback/${agent}/batch`, payload: { items } })).statusCode).toBe(201);
    const report = (await apiCall(owner, { method: 'GET', url: `/api/policies/${agent}/ab` })).json();
    expect(report.control).toBe('v1');
    expect(report.versions.map((v: { version: string; rows: number; weight: number }) => [v.version, v.rows, v.weight])).toEqual([
      ['v1', 60, 0.5],
      ['v2', 60, 0.5],
    ]);
    const [cmp] = report.comparisons;
    expect(cmp).toMatchObject({ version: 'v2', control: 'v1', verdict: 'better' });
    expect(cmp.interval.low).toBeGreaterThan(0);
    expect(cmp.interval.low).toBeLessThan(cmp.difference);
    // `since` after every row: nothing attributed.
    const later = (await apiCall(owner, { method: 'GET', url: `/api/policies/${agent}/ab?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}` })).json();
    expect(later.versions.every((v: { rows: number }) => v.rows === 0)).toBe(true);
    expect((await apiCall(other, { method: 'GET', url: `/api/policies/${agent}/ab` })).statusCode).toBe(404);
  });

  it('trains on the feedback of chosen versions only (train_policy feedbackVersions)', async () => {
    const agent = 'agent-ab-report'; // 60 rows attributed to v1, 60 to v2, 1 unattributed (test above)
    const repo = new FeedbackRepository(db.orm.em.fork());
    expect((await repo.listForTraining(agent, ['v2'])).length).toBe(60);
    expect((await repo.listForTraining(agent, ['v1', 'v2'])).length).toBe(120);
    expect((await repo.listForTraining(agent)).length).toBe(121);
    const dry = await apiCall(owner, { method: 'POST', url: `/api/policies/train_policy/${agent}`, payload: { dryRun: true, feedbackVersions: ['v2'] } });
    expect(dry.statusCode).toBe(200);
    expect(dry.json().feedbackCount).toBe(60);
    const unknown = await apiCall(owner, { method: 'POST', url: `/api/policies/train_policy/${agent}`, payload: { dryRun: true, feedbackVersions: ['v2', 'v8'] } });
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json()).toMatchObject({ error: 'unknown_version', field: 'feedbackVersions.1' });
    // AGENT's v2 has no attributed rows: too few to train on.
    const few = await apiCall(owner, { method: 'POST', url: `/api/policies/train_policy/${AGENT}`, payload: { dryRun: true, feedbackVersions: ['v2'] } });
    expect(few.statusCode).toBe(400);
    expect(few.json()).toMatchObject({ error: 'insufficient_feedback' });
  });
});
