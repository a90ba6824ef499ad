/**
 * The API's `/metrics` scraped over real HTTP (the app listening on a loopback port, real Postgres) and
 * parsed as the Prometheus text format: request durations by route pattern and status, feedback rows
 * written, idempotent replays, runs by status.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { UNMATCHED_ROUTE } from '../../api/plugins/app/metrics';
import { loadEnv } from '../../common/env';
import { PromMetrics } from '../../common/names';
import { TrainingRunRepository } from '../../db/repositories';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { samplesOf, scrape, valueOf } from '../helpers/prometheus';

let db: TestDatabase;
let app: FastifyInstance;
let auth: TestProjectKey;
let base: string;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url }) }, false);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  base = `http://127.0.0.1:${address.port}`;
  auth = await createTestProjectKey(db.orm);
});
afterAll(async () => {
  await app?.close();
  await db?.dispose();
});

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${url}`, { method: 'POST', headers: { ...auth.headers, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const items = (n: number) => Array.from({ length: n }, (_, i) => ({ prompt: `q${i}`, response: `a${i}`, score: i % 3, runId: 'm-1' }));

it('serves the exposition format without an API key, with every metric family typed', async () => {
  const m = await scrape(`${base}/metrics`);
  expect(m.types.get(PromMetrics.httpRequestDuration)).toBe('histogram');
  expect(m.types.get(PromMetrics.feedbackRowsWritten)).toBe('counter');
  expect(m.types.get(PromMetrics.idempotentReplays)).toBe('counter');
  expect(m.types.get(PromMetrics.runs)).toBe('gauge');
  // prom-client's process metrics are there too.
  expect(m.types.get('process_cpu_user_seconds_total')).toBe('counter');
});

it('counts requests by route pattern and status, rows written and replays; never a raw URL or id', async () => {
  const before = await scrape(`${base}/metrics`);
  const rowsBefore = valueOf(before, PromMetrics.feedbackRowsWritten);

  expect((await post('/api/policies/feedback/agent-m1/batch', { items: items(7) })).status).toBe(201);
  const key = { 'idempotency-key': 'metrics-test-key-1' };
  expect((await post('/api/policies/feedback/agent-m1', items(1)[0], key)).status).toBe(201);
  const replay = await post('/api/policies/feedback/agent-m1', items(1)[0], key);
  expect(replay.status).toBe(201);
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  expect((await post('/api/policies/feedback/agent-m1/batch', { items: [{ ...items(1)[0], score: 'x' }] })).status).toBe(400);
  expect((await fetch(`${base}/api/runs/run_doesnotexist12345678`, { headers: auth.headers })).status).toBe(404);
  expect((await fetch(`${base}/no/such/route-7f3a`, { headers: auth.headers })).status).toBe(404);

  const m = await scrape(`${base}/metrics`);
  expect(valueOf(m, PromMetrics.feedbackRowsWritten) - rowsBefore).toBe(8);
  expect(valueOf(m, PromMetrics.idempotentReplays, { route: '/api/policies/feedback/:agentId' })).toBe(1);
  const count = (labels: Record<string, string>) => valueOf(m, `${PromMetrics.httpRequestDuration}_count`, labels);
  expect(count({ method: 'POST', route: '/api/policies/feedback/:agentId/batch', status_code: '201' })).toBe(1);
  expect(count({ method: 'POST', route: '/api/policies/feedback/:agentId/batch', status_code: '400' })).toBe(1);
  expect(count({ method: 'POST', route: '/api/policies/feedback/:agentId', status_code: '201' })).toBe(2);
  expect(count({ method: 'GET', route: '/api/runs/:runId', status_code: '404' })).toBe(1);
  expect(count({ method: 'GET', route: UNMATCHED_ROUTE, status_code: '404' })).toBe(1);
  // Buckets are cumulative and end at +Inf = _count.
  const buckets = samplesOf(m, `${PromMetrics.httpRequestDuration}_bucket`, { method: 'POST', route: '/api/policies/feedback/:agentId', status_code: '201' });
  expect(buckets.at(-1)).toMatchObject({ labels: expect.objectContaining({ le: '+Inf' }), value: 2 });
  expect(buckets.map((b) => b.value)).toEqual([...buckets.map((b) => b.value)].sort((a, b) => a - b));
  // Route labels are patterns: no agent id, run id or unknown path became a label value.
  const routes = new Set(samplesOf(m, `${PromMetrics.httpRequestDuration}_count`).map((s) => s.labels.route));
  for (const route of routes) expect(route === UNMATCHED_ROUTE || !/agent-m1|run_does|route-7f3a/.test(route)).toBe(true);
});

it('reports runs by status from the database', async () => {
  const repo = new TrainingRunRepository(db.orm.em.fork());
  await repo.create({ id: 'run_metricsAAAAAAAAAAAAAAA', workflowId: 'train-run_metricsAAAAAAAAAAAAAAA', agentId: 'agent-m2', config: {} });
  await repo.create({ id: 'run_metricsBBBBBBBBBBBBBBB', workflowId: 'train-run_metricsBBBBBBBBBBBBBBB', agentId: 'agent-m3', config: {} });
  await repo.setStatus('run_metricsBBBBBBBBBBBBBBB', 'failed', 'boom');
  const m = await scrape(`${base}/metrics`);
  expect(valueOf(m, PromMetrics.runs, { status: 'queued' })).toBe(1);
  expect(valueOf(m, PromMetrics.runs, { status: 'failed' })).toBe(1);
  expect(valueOf(m, PromMetrics.runs, { status: 'completed' })).toBe(0);
  expect(samplesOf(m, PromMetrics.runs)).toHaveLength(6);
});
