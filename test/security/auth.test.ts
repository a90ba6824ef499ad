/**
 * API keys on every route: a missing, malformed, unknown, wrong-secret or revoked key gets
 * one generic 401; another project's key gets 404 for every agent and run id (the same
 * answer as an id that does not exist) and writes nothing; the owner's key is accepted.
 * Also the per-key rate limit (429 + Retry-After). Real Postgres and Temporal dev server.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { PolicyVersionRepository, ProjectRepository } from '../../db/repositories';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { countRows } from './row-counts';
import { PROTECTED_ROUTES, PUBLIC_PATHS, routeName, withHeaders, type RouteIds } from './routes';

let db: TestDatabase;
let app: FastifyInstance;
let owner: TestProjectKey;
let stranger: TestProjectKey;
let revokedKey: string;
let ids: RouteIds;
let workflowId: string;

const env = (extra: Record<string, string> = {}) => loadEnv({ ...process.env, DATABASE_URL: db.url, ...extra });

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildApp({ env: env() }, false);
  owner = await createTestProjectKey(db.orm, 'owner-project');
  stranger = await createTestProjectKey(db.orm, 'stranger-project');
  const revoked = await createTestProjectKey(db.orm, 'owner-project');
  await new ProjectRepository(db.orm.em.fork()).revokeKey(revoked.keyId);
  revokedKey = revoked.key;

  const items = Array.from({ length: 10 }, (_, i) => ({ prompt: `secret prompt ${i}`, response: `r${i}`, score: i, runId: 'rt-1' }));
  const seeded = await app.inject({ method: 'POST', url: '/api/policies/feedback/owned-agent/batch', payload: { items }, headers: owner.headers });
  expect(seeded.statusCode).toBe(201);
  // One policy version, so the deployment routes have something to deploy (test/security/routes.ts).
  await new PolicyVersionRepository(db.orm.em.fork()).saveForRun({
    agentId: 'owned-agent',
    trainingRunId: 'run_security_seed_v1',
    modelKey: 'owned-agent/v1/policy',
    rewardModelKey: 'owned-agent/v1/reward_model',
    feedbackCount: 10,
    rewardMean: 0,
    rewardStd: 1,
    metrics: {},
  });
  const started = await app.inject({ method: 'POST', url: '/api/policies/train_policy/owned-agent', payload: { maxSteps: 2 }, headers: owner.headers });
  expect(started.statusCode).toBe(202);
  ids = { agentId: 'owned-agent', runId: started.json().runId };
  workflowId = started.json().workflowId;
});

afterAll(async () => {
  await app?.temporal.workflow.getHandle(workflowId).terminate('test cleanup').catch(() => undefined);
  await app?.close();
  await db?.dispose();
});

function expectUnauthorized(res: LightMyRequestResponse, what: string): void {
  expect({ what, status: res.statusCode, body: res.json(), challenge: res.headers['www-authenticate'] }).toEqual({
    what,
    status: 401,
    body: { error: 'unauthorized', message: 'a valid API key is required: Authorization: Bearer <key>' },
    challenge: 'Bearer realm="durable-rlhf"',
  });
}

describe('the route table', () => {
  it('covers every route of the OpenAPI document that is not public', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .filter((r) => !PUBLIC_PATHS.some((p) => r.endsWith(` ${p}`)))
      .sort();
    expect(PROTECTED_ROUTES.map(routeName).sort()).toEqual(documented);
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
  });
});

describe('without a valid key', () => {
  const badHeaders = (): [string, Record<string, string>][] => {
    const [, prefix, secret] = /^rlhf_([0-9a-f]{16})_(.+)$/.exec(owner.key)!;
    const flipped = secret[0] === 'A' ? `B${secret.slice(1)}` : `A${secret.slice(1)}`;
    return [
      ['no header', {}],
      ['an empty bearer', { authorization: 'Bearer ' }],
      ['another scheme', { authorization: `Basic ${Buffer.from(`x:${owner.key}`).toString('base64')}` }],
      ['the key without a scheme', { authorization: owner.key }],
      ['a malformed key', { authorization: 'Bearer rlhf_nothex_short' }],
      ['an unknown prefix', { authorization: `Bearer rlhf_0000000000000000_${secret}` }],
      ['the right prefix with a wrong secret', { authorization: `Bearer rlhf_${prefix}_${flipped}` }],
      ['the key with trailing junk', { authorization: `Bearer ${owner.key}x` }],
      ['the key twice', { authorization: `Bearer ${owner.key} ${owner.key}` }],
      ['a revoked key', { authorization: `Bearer ${revokedKey}` }],
    ];
  };

  it.each(PROTECTED_ROUTES.map((r) => [routeName(r), r] as const))('%s answers 401 and writes nothing', async (_name, route) => {
    const before = await countRows(db.orm);
    for (const [what, headers] of badHeaders()) expectUnauthorized(await app.inject(withHeaders(route.request(ids), headers)), what);
    expect(await countRows(db.orm)).toEqual(before);
  });

  it('answers 401 on unknown routes too (no route discovery without a key)', async () => {
    expectUnauthorized(await app.inject({ method: 'GET', url: '/api/nothing-here' }), 'unknown route');
  });

  it('rejects an unauthenticated oversize body before reading it: 401, not 413', async () => {
    const huge = await app.inject({ method: 'POST', url: '/api/policies/feedback/owned-agent', payload: 'x'.repeat(2 * 1024 * 1024), headers: { 'content-type': 'application/json' } });
    expectUnauthorized(huge, 'oversize body');
  });

  it('leaves /healthz, /metrics and /docs open', async () => {
    for (const p of PUBLIC_PATHS) expect((await app.inject({ method: 'GET', url: p })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });
});

describe("another project's key", () => {
  it.each(PROTECTED_ROUTES.map((r, i) => [routeName(r), r, i] as const))('%s answers 404, as for an unknown id, and writes nothing', async (_name, route, i) => {
    const before = await countRows(db.orm);
    const foreign = await app.inject(withHeaders(route.request(ids), stranger.headers));
    // A fresh unknown agent per route: posting feedback makes it the stranger's own.
    const unknownIds = { agentId: `no-such-agent-${i}`, runId: 'run_nosuchrunnosuchrun0' };
    const unknown = await app.inject(withHeaders(route.request(unknownIds), stranger.headers));
    const id = ids[route.subject];
    expect({ status: foreign.statusCode, body: foreign.json() }).toEqual({
      status: 404,
      body: { error: 'not_found', message: `${route.subject === 'agentId' ? 'agent' : 'training run'} ${id} not found`, field: route.subject },
    });
    // Byte-for-byte the answer for an id that does not exist, once the id is swapped.
    expect(unknown.statusCode).toBe(route.method === 'POST' && route.path.startsWith('/api/policies/feedback') ? 201 : 404);
    if (unknown.statusCode === 404) expect(unknown.body.replace(unknownIds[route.subject], id)).toBe(foreign.body);
    expect(foreign.body).not.toMatch(/secret prompt|owner-project|proj_/);
    const after = await countRows(db.orm);
    // Only the stranger's own first feedback for `no-such-agent` may have written rows.
    if (unknown.statusCode === 201) {
      expect({ ...after, agent: before.agent, feedback: before.feedback }).toEqual(before);
    } else {
      expect(after).toEqual(before);
    }
  });

  it("cannot take over the owner's agent by posting feedback to it", async () => {
    const res = await app.inject(withHeaders(PROTECTED_ROUTES[0].request(ids), stranger.headers));
    expect(res.statusCode).toBe(404);
    const page = await app.inject({ method: 'GET', url: '/api/policies/feedback/owned-agent?limit=200', headers: owner.headers });
    expect(page.json().items).toHaveLength(10);
    expect(new Set(page.json().items.map((f: { projectId: string }) => f.projectId))).toEqual(new Set([owner.projectId]));
  });
});

describe("the owner's key", () => {
  it('is accepted on every route (cancel last)', async () => {
    for (const route of PROTECTED_ROUTES) {
      const res = await app.inject(withHeaders(route.request(ids), owner.headers));
      const ok = route.ownerStatus
        ? res.statusCode === route.ownerStatus.status && res.json().error === route.ownerStatus.error
        : res.statusCode >= 200 && res.statusCode < 300;
      expect({ route: routeName(route), ok }).toEqual({ route: routeName(route), ok: true });
    }
  });
});

describe('rate limit per key', () => {
  it('answers 429 with Retry-After past RATE_LIMIT_MAX, for that key only', async () => {
    const limited = await buildApp({ env: env({ RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000' }) }, false);
    try {
      const get = (headers: Record<string, string>) => limited.inject({ method: 'GET', url: '/api/policies/owned-agent', headers });
      for (let i = 0; i < 3; i++) expect((await get(owner.headers)).statusCode).toBe(200);
      const refused = await get(owner.headers);
      expect(refused.statusCode).toBe(429);
      expect(refused.json()).toMatchObject({ error: 'rate_limited' });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(refused.headers['x-ratelimit-limit']).toBe('3');
      // Another key has its own budget (404: the agent is not its project's).
      expect((await get(stranger.headers)).statusCode).toBe(404);
    } finally {
      await limited.close();
    }
  });
});
