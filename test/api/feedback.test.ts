/**
 * Feedback, policy-list, health and error-policy routes, through app.inject on a built app
 * against a real Postgres database (test/helpers/database.ts) and the Temporal dev server.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp, type AppOptions } from '../../api/app';
import { loadEnv } from '../../common/env';
import { PolicyVersionRepository } from '../../db/repositories';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;
let app: FastifyInstance;
let auth: TestProjectKey;
/** app.inject with the test project's API key (a request's own headers win). */
const inject = (target: FastifyInstance, opts: InjectOptions) => target.inject({ ...opts, headers: { ...auth.headers, ...opts.headers } });
const options = (extra: Partial<AppOptions> = {}): AppOptions => ({ env: loadEnv({ ...process.env, DATABASE_URL: db.url }), ...extra });

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildApp(options(), false);
  auth = await createTestProjectKey(db.orm);
});
afterAll(async () => {
  await app.close();
  await db.dispose();
});

const item = (i: number, extra: Record<string, unknown> = {}) => ({ prompt: `p${i}`, response: `r${i}`, score: i / 10, runId: 'agent-run-1', ...extra });
const post = (url: string, payload: unknown) => inject(app, { method: 'POST', url, payload: payload as object });

describe('POST /api/policies/feedback/:agentId', () => {
  it('stores a row with the key\'s project and answers 201 {id}', async () => {
    const res = await post('/api/policies/feedback/agent-f1', item(1, { notes: 'good' }));
    expect(res.statusCode).toBe(201);
    const { id } = res.json();
    expect(id).toMatch(/^[0-9]+$/);
    const page = (await inject(app, { method: 'GET', url: '/api/policies/feedback/agent-f1' })).json();
    expect(page.items).toEqual([
      expect.objectContaining({ id, agentId: 'agent-f1', prompt: 'p1', score: 0.1, notes: 'good', projectId: auth.projectId, runId: 'agent-run-1' }),
    ]);
    expect(new Date(page.items[0].createdAt).toISOString()).toBe(page.items[0].createdAt);
  });

  it.each([
    ['a string', '0.5'],
    ['a number too large for a double (parses to Infinity)', '1e999'],
    ['null', 'null'],
    ['a boolean', 'true'],
  ])('rejects a score that is %s with 400 naming the field', async (_what, raw) => {
    const payload = `{"prompt":"p","response":"r","runId":"x1","score":${raw === '0.5' ? '"0.5"' : raw}}`;
    const res = await inject(app, { method: 'POST', url: '/api/policies/feedback/agent-bad', payload, headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'validation_error', field: 'score' });
  });

  it.each([
    ['path traversal', '..%2Fx'],
    ['a NUL byte', 'a%00b'],
    ['unicode look-alike', 'agent%C3%A9'],
    ['65 characters', 'a'.repeat(65)],
    ['a leading dash', '-agent'],
  ])('rejects an agentId with %s', async (_what, agentId) => {
    const res = await post(`/api/policies/feedback/${agentId}`, item(1));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'validation_error', field: 'agentId' });
  });

  it('rejects missing fields, unknown fields, oversize text and a bad runId, naming each field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ prompt: 'p', response: 'r', score: 1 }, 'runId'],
      [{ ...item(1), extra: true }, 'extra'],
      [item(1, { prompt: 'x'.repeat(32 * 1024 + 1) }), 'prompt'],
      [item(1, { notes: 'x'.repeat(4 * 1024 + 1) }), 'notes'],
      [item(1, { runId: '../etc' }), 'runId'],
      // The project comes from the API key, never from the body.
      [item(1, { projectId: 'proj-other' }), 'projectId'],
    ];
    for (const [payload, field] of cases) {
      const res = await post('/api/policies/feedback/agent-fields', payload);
      expect({ status: res.statusCode, field: res.json().field }).toEqual({ status: 400, field });
    }
    // Nothing written, not even the agent: it is still unknown.
    expect((await inject(app, { method: 'GET', url: '/api/policies/feedback/agent-fields' })).statusCode).toBe(404);
  });

  it('answers 413 for a body over 1 MiB and 400 for malformed JSON', async () => {
    const big = await post('/api/policies/feedback/agent-big', item(1, { notes: 'x'.repeat(1024 * 1024) }));
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ error: 'payload_too_large' });
    const broken = await inject(app, { method: 'POST', url: '/api/policies/feedback/agent-big', payload: '{"prompt":', headers: { 'content-type': 'application/json' } });
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toEqual({ error: expect.any(String), message: expect.any(String) });
  });

  it('enforces a configured score range', async () => {
    const ranged = await buildApp(options({ scoreRange: { min: -1, max: 1 } }), false);
    try {
      expect((await inject(ranged, { method: 'POST', url: '/api/policies/feedback/agent-r', payload: item(10) })).statusCode).toBe(201);
      const res = await inject(ranged, { method: 'POST', url: '/api/policies/feedback/agent-r', payload: item(11) });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ field: 'score' });
    } finally {
      await ranged.close();
    }
  });
});

describe('POST /api/policies/feedback/:agentId/batch', () => {
  it('stores every item and answers 201 {ids} in order', async () => {
    const res = await post('/api/policies/feedback/agent-b1/batch', { items: [item(1), item(2), item(3)] });
    expect(res.statusCode).toBe(201);
    const { ids } = res.json();
    expect(ids).toHaveLength(3);
    const page = (await inject(app, { method: 'GET', url: '/api/policies/feedback/agent-b1' })).json();
    expect(page.items.map((f: { id: string }) => f.id)).toEqual(ids);
  });

  it('writes nothing when one item is bad, and names it', async () => {
    const res = await post('/api/policies/feedback/agent-b2/batch', { items: [item(1), item(2, { score: 'high' }), item(3)] });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'validation_error', field: 'items.1.score' });
    expect((await inject(app, { method: 'GET', url: '/api/policies/feedback/agent-b2' })).statusCode).toBe(404);
  });

  it('rejects an empty batch and one over 1000 items', async () => {
    expect((await post('/api/policies/feedback/agent-b3/batch', { items: [] })).statusCode).toBe(400);
    const tiny = { prompt: 'p', response: '', score: 0, runId: 'r' };
    const res = await post('/api/policies/feedback/agent-b3/batch', { items: Array.from({ length: 1001 }, () => tiny) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ field: 'items' });
  });
});

describe('GET /api/policies/feedback/:agentId', () => {
  it('pages with a cursor (the last row id) and a bounded limit', async () => {
    await post('/api/policies/feedback/agent-p/batch', { items: Array.from({ length: 5 }, (_, i) => item(i)) });
    const first = (await inject(app, { method: 'GET', url: '/api/policies/feedback/agent-p?limit=2' })).json();
    expect(first.items.map((f: { prompt: string }) => f.prompt)).toEqual(['p0', 'p1']);
    const cursor = encodeURIComponent(first.nextCursor);
    const second = (await inject(app, { method: 'GET', url: `/api/policies/feedback/agent-p?limit=3&cursor=${cursor}` })).json();
    expect(second.items.map((f: { prompt: string }) => f.prompt)).toEqual(['p2', 'p3', 'p4']);
    expect(second.nextCursor).toBeNull();
  });

  it('rejects limit above 200 or below 1, and a forged cursor; a foreign cursor shows nothing of the other agent', async () => {
    for (const q of ['limit=201', 'limit=0', 'limit=abc', 'limit=true', 'limit=%2012']) {
      const res = await inject(app, { method: 'GET', url: `/api/policies/feedback/agent-p?${q}` });
      expect({ q, status: res.statusCode, field: res.json().field }).toEqual({ q, status: 400, field: 'limit' });
    }
    const first = (await inject(app, { method: 'GET', url: '/api/policies/feedback/agent-p?limit=1' })).json();
    expect((await post('/api/policies/feedback/agent-q', item(1))).statusCode).toBe(201);
    const foreign = await inject(app, { method: 'GET', url: `/api/policies/feedback/agent-q?cursor=${first.nextCursor}` });
    expect(foreign.statusCode).toBe(200);
    expect(foreign.json().items.map((f: { agentId: string }) => f.agentId)).toEqual(['agent-q']);
    const forged = await inject(app, { method: 'GET', url: '/api/policies/feedback/agent-p?cursor=AAAA' });
    expect(forged.statusCode).toBe(400);
    expect(forged.json()).toMatchObject({ error: 'validation_error', field: 'cursor' });
  });
});

describe('GET /api/policies/:agentId', () => {
  it('lists versions newest first with version strings, paths and metrics', async () => {
    expect((await post('/api/policies/feedback/agent-pol', item(1))).statusCode).toBe(201);
    const repo = new PolicyVersionRepository(db.orm.em.fork());
    for (const [run, mean] of [['run_aaaa1', 0.2], ['run_aaaa2', 0.7]] as const) {
      await repo.saveForRun({
        agentId: 'agent-pol',
        trainingRunId: run,
        modelKey: `models/agent-pol/${run}/policy`,
        rewardModelKey: `models/agent-pol/${run}/reward_model`,
        feedbackCount: 20,
        rewardMean: mean,
        rewardStd: 0.1,
        metrics: { valPearson: 0.9 },
      });
    }
    const res = await inject(app, { method: 'GET', url: '/api/policies/agent-pol' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.agentId).toBe('agent-pol');
    expect(body.policies.map((p: { version: string }) => p.version)).toEqual(['v2', 'v1']);
    expect(body.policies[0]).toMatchObject({ modelKey: 'models/agent-pol/run_aaaa2/policy', trainingRunId: 'run_aaaa2', feedbackCount: 20 });
    expect(body.policies[0].metrics).toEqual({ rewardMean: 0.7, rewardStd: 0.1, valPearson: 0.9 });
    const none = await inject(app, { method: 'GET', url: '/api/policies/agent-none' });
    expect({ status: none.statusCode, body: none.json() }).toEqual({ status: 404, body: { error: 'not_found', message: 'agent agent-none not found', field: 'agentId' } });
    expect((await inject(app, { method: 'GET', url: '/api/policies/..%2F..' })).statusCode).toBe(400);
  });
});

describe('health, docs and the error policy', () => {
  it('GET /healthz reports both dependencies', async () => {
    const res = await inject(app, { method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', db: 'ok', temporal: 'ok' });
  });

  it('serves the OpenAPI document with every route', async () => {
    const doc = (await inject(app, { method: 'GET', url: '/docs/json' })).json();
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/api/policies/feedback/{agentId}',
        '/api/policies/feedback/{agentId}/batch',
        '/api/policies/feedback/{agentId}/export',
        '/api/policies/feedback/{agentId}/import',
        '/api/policies/train_policy/{agentId}',
        '/api/policies/{agentId}',
        '/api/policies/{agentId}/ab',
        '/api/policies/{agentId}/deployment',
        '/api/policies/{agentId}/deployment/history',
        '/api/policies/{agentId}/deployment/promote',
        '/api/policies/{agentId}/deployment/rollback',
        '/api/policies/{agentId}/schedule',
        '/api/policies/{agentId}/schedule/pause',
        '/api/policies/{agentId}/schedule/trigger',
        '/api/policies/{agentId}/schedule/unpause',
        '/api/runs',
        '/api/runs/{runId}',
        '/api/runs/{runId}/cancel',
        '/api/runs/{runId}/events',
        '/api/runs/{runId}/kl',
        '/api/runs/{runId}/metrics',
        '/api/runs/{runId}/pause',
        '/api/runs/{runId}/resume',
        '/healthz',
        '/metrics',
      ].sort(),
    );
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await inject(app, { method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'not_found' });
  });

  it('answers a failure with a generic 500 and logs the details', async () => {
    const lines: string[] = [];
    const stream = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const broken = await buildApp(options(), { level: 'error', stream });
    try {
      await broken.orm.close(true);
      const res = await inject(broken, { method: 'GET', url: '/api/policies/agent-x' });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ error: 'internal_error', message: 'Internal server error' });
      expect(res.body).not.toMatch(/stack|at |pool|knex|select/i);
      expect(lines.join('')).toMatch(/unhandled error/);
      const health = await inject(broken, { method: 'GET', url: '/healthz' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toEqual({ status: 'degraded', db: 'unavailable', temporal: 'ok' });
    } finally {
      await broken.close();
    }
  });
});
