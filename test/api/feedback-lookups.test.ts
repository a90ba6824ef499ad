/**
 * The write path's lookup caches (api/plugins/app/lookups.ts) against a real Postgres: a revoked
 * key stops working within AUTH_CACHE_TTL_MS (at once with 0), a cached agent owner never lets
 * another project write or read, and a 201 from the one-statement insert is a committed row.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { ProjectRepository } from '../../db/repositories/project-repository';
import { createTestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;
let cached: FastifyInstance;
let uncached: FastifyInstance;

beforeAll(async () => {
  db = await createTestDatabase();
  cached = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url, AUTH_CACHE_TTL_MS: '300' }) }, false);
  uncached = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url, AUTH_CACHE_TTL_MS: '0' }) }, false);
});
afterAll(async () => {
  await cached?.close();
  await uncached?.close();
  await db?.dispose();
});

const item = { prompt: 'p', response: 'r', score: 1, runId: 'run-1' };
const post = (app: FastifyInstance, agentId: string, headers: Record<string, string>) =>
  app.inject({ method: 'POST', url: `/api/policies/feedback/${agentId}`, headers, payload: item });

async function rows(agentId: string): Promise<{ id: string; project_id: string }[]> {
  return db.orm.em.fork().getConnection().execute('select id::text as id, project_id from feedback where agent_id = ? order by id', [agentId]);
}

it('stops accepting a revoked key within AUTH_CACHE_TTL_MS, and for good', async () => {
  const key = await createTestProjectKey(db.orm);
  expect((await post(cached, 'agent-revoke', key.headers)).statusCode).toBe(201);
  await new ProjectRepository(db.orm.em.fork()).revokeKey(key.keyId);
  const deadline = Date.now() + 30_000;
  let status = 201;
  while (status !== 401 && Date.now() < deadline) {
    status = (await post(cached, 'agent-revoke', key.headers)).statusCode;
    if (status !== 401) await new Promise((r) => setTimeout(r, 50));
  }
  expect(status).toBe(401);
  expect((await post(cached, 'agent-revoke', key.headers)).statusCode).toBe(401);
});

it('refuses a revoked key on the next request with AUTH_CACHE_TTL_MS=0', async () => {
  const key = await createTestProjectKey(db.orm);
  expect((await post(uncached, 'agent-revoke-now', key.headers)).statusCode).toBe(201);
  await new ProjectRepository(db.orm.em.fork()).revokeKey(key.keyId);
  expect((await post(uncached, 'agent-revoke-now', key.headers)).statusCode).toBe(401);
});

it('keeps another project out of an agent whose owner is cached', async () => {
  const owner = await createTestProjectKey(db.orm);
  const stranger = await createTestProjectKey(db.orm);
  // The owner's writes put the agent's owner in the cache.
  for (let i = 0; i < 3; i++) expect((await post(cached, 'agent-cached-owner', owner.headers)).statusCode).toBe(201);
  const writes = await Promise.all([
    post(cached, 'agent-cached-owner', stranger.headers),
    cached.inject({ method: 'POST', url: '/api/policies/feedback/agent-cached-owner/batch', headers: stranger.headers, payload: { items: [item] } }),
    cached.inject({ method: 'POST', url: '/api/policies/feedback/agent-cached-owner/import', headers: { ...stranger.headers, 'content-type': 'application/x-ndjson' }, payload: `${JSON.stringify(item)}\n` }),
    cached.inject({ method: 'GET', url: '/api/policies/feedback/agent-cached-owner', headers: stranger.headers }),
    cached.inject({ method: 'GET', url: '/api/policies/feedback/agent-cached-owner/export', headers: stranger.headers }),
  ]);
  expect(writes.map((w) => w.statusCode)).toEqual([404, 404, 404, 404, 404]);
  const stored = await rows('agent-cached-owner');
  expect(stored).toHaveLength(3);
  expect(new Set(stored.map((r) => r.project_id))).toEqual(new Set([owner.projectId]));
});

it('answers 201 only with the row committed (read from another connection), its id the stored one', async () => {
  const key = await createTestProjectKey(db.orm);
  const answers = await Promise.all(Array.from({ length: 20 }, () => post(cached, 'agent-committed', key.headers)));
  expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(201));
  expect((await rows('agent-committed')).map((r) => r.id).sort()).toEqual(answers.map((a) => a.json().id).sort());
});
