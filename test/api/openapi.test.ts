/**
 * /docs/json is a valid OpenAPI document (checked with @seriousme/openapi-schema-validator against
 * the official OpenAPI 3.1 schema), it declares every route the app serves, and the API keeps the
 * promises the document makes where a generic client relies on them: /healthz needs no key, an
 * undeclared method is a 405 with Allow, and a query value is a number only when it is one.
 * The full conformance run (every check, fuzzed) is test/api/schemathesis.test.ts.
 */
import type { FastifyInstance } from 'fastify';
import { Validator } from '@seriousme/openapi-schema-validator';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;
let app: FastifyInstance;
let auth: TestProjectKey;
let doc: { openapi: string; paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>> };

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url }) }, false);
  auth = await createTestProjectKey(db.orm);
  doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
});
afterAll(async () => {
  await app.close();
  await db.dispose();
});

/** Every operation the app serves, as "METHOD /openapi/{path}", from Fastify's own route table. */
const EXPECTED_OPERATIONS = [
  'GET /healthz',
  'GET /metrics',
  'POST /api/policies/feedback/{agentId}/import',
  'GET /api/policies/feedback/{agentId}/export',
  'POST /api/policies/feedback/{agentId}',
  'POST /api/policies/feedback/{agentId}/batch',
  'GET /api/policies/feedback/{agentId}',
  'DELETE /api/policies/feedback/{agentId}',
  'GET /api/policies/{agentId}',
  'GET /api/policies/{agentId}/deployment',
  'PUT /api/policies/{agentId}/deployment',
  'GET /api/policies/{agentId}/deployment/history',
  'POST /api/policies/{agentId}/deployment/promote',
  'POST /api/policies/{agentId}/deployment/rollback',
  'GET /api/policies/{agentId}/ab',
  'POST /api/policies/train_policy/{agentId}',
  'PUT /api/policies/{agentId}/schedule',
  'GET /api/policies/{agentId}/schedule',
  'DELETE /api/policies/{agentId}/schedule',
  'POST /api/policies/{agentId}/schedule/pause',
  'POST /api/policies/{agentId}/schedule/unpause',
  'POST /api/policies/{agentId}/schedule/trigger',
  'GET /api/runs',
  'GET /api/runs/{runId}',
  'GET /api/runs/{runId}/metrics',
  'GET /api/runs/{runId}/events',
  'POST /api/runs/{runId}/pause',
  'POST /api/runs/{runId}/resume',
  'POST /api/runs/{runId}/cancel',
  'POST /api/runs/{runId}/kl',
];

it('is a valid OpenAPI 3.1 document', async () => {
  expect(doc.openapi).toBe('3.1.0');
  const result = await new Validator().validate(doc as never);
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
});

it('declares exactly the operations the app serves', () => {
  const declared = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
  expect(declared.sort()).toEqual([...EXPECTED_OPERATIONS].sort());
  for (const op of EXPECTED_OPERATIONS) {
    const [method, path] = op.split(' ');
    expect([op, app.hasRoute({ method: method as 'GET', url: path.replace(/\{(\w+)\}/g, ':$1') })]).toEqual([op, true]);
  }
});

it('marks /healthz and /metrics public and every other operation behind the bearer key', async () => {
  const PUBLIC = ['/healthz', '/metrics'];
  for (const path of PUBLIC) expect(doc.paths[path].get.security).toEqual([]);
  for (const [path, ops] of Object.entries(doc.paths)) {
    if (PUBLIC.includes(path)) continue;
    for (const op of Object.values(ops)) expect(op.security).toBeUndefined(); // the document-wide apiKey
  }
  expect((await app.inject({ method: 'GET', url: '/api/runs' })).statusCode).toBe(401);
});

it('documents the cursor formats and the 422 of an Idempotency-Key reuse', () => {
  const params = (path: string) => (doc.paths[path].get as unknown as { parameters: { name: string; schema: { pattern?: string } }[] }).parameters;
  expect(params('/api/policies/feedback/{agentId}').find((p) => p.name === 'cursor')?.schema.pattern).toBe('^[0-9]{1,18}$');
  expect(params('/api/runs').find((p) => p.name === 'cursor')?.schema.pattern).toEqual(expect.any(String));
  expect(Object.keys(doc.paths['/api/policies/feedback/{agentId}'].post.responses)).toContain('422');
  expect(Object.keys(doc.paths['/api/policies/feedback/{agentId}/batch'].post.responses)).toContain('422');
});

it('answers 405 with Allow for an undeclared method on a declared path, with or without a key', async () => {
  for (const [method, url, allow] of [
    ['DELETE', '/api/runs/run_x', 'GET'],
    ['PUT', '/api/runs', 'GET'],
    ['GET', '/api/runs/run_x/pause', 'POST'],
    ['HEAD', '/healthz', 'GET'],
  ] as const) {
    for (const headers of [{}, auth.headers]) {
      const res = await app.inject({ method, url, headers });
      expect([method, url, res.statusCode, res.headers.allow]).toEqual([method, url, 405, allow]);
    }
  }
  const query = await app.inject({ method: 'QUERY' as 'GET', url: '/healthz' });
  expect(query.statusCode).toBe(405);
  expect((await app.inject({ method: 'GET', url: '/no/such/path', headers: auth.headers })).statusCode).toBe(404);
});

it('takes a query number only from a plain decimal literal', async () => {
  for (const limit of ['true', '%2012', '0x10', '1e400x', '']) {
    const res = await app.inject({ method: 'GET', url: `/api/runs?limit=${limit}`, headers: auth.headers });
    expect([limit, res.statusCode, res.json().field]).toEqual([limit, 400, 'limit']);
  }
  expect((await app.inject({ method: 'GET', url: '/api/runs?limit=12', headers: auth.headers })).statusCode).toBe(200);
});
