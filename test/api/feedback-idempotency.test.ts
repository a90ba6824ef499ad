/**
 * Idempotency-Key on the feedback write routes (api/idempotency.ts), through app.inject on a
 * built app against a real Postgres database: a retried write is stored once and answered
 * with the first answer; a reused key for another request is refused; keys are per project;
 * concurrent requests with one key write once.
 */
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp } from '../../api/app';
import { sweepIdempotencyRecords } from '../../api/plugins/app/idempotency-sweep';
import { loadEnv } from '../../common/env';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;
let app: FastifyInstance;
let auth: TestProjectKey;
let otherProject: TestProjectKey;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url }) }, false);
  auth = await createTestProjectKey(db.orm);
  otherProject = await createTestProjectKey(db.orm);
});
afterAll(async () => {
  await app.close();
  await db.dispose();
});

const item = (i: number) => ({ prompt: `p${i}`, response: `r${i}`, score: 1, runId: 'agent-run-1' });

function post(url: string, payload: unknown, key: string | undefined, who: TestProjectKey = auth) {
  const opts: InjectOptions = { method: 'POST', url, payload: payload as object, headers: { ...who.headers, ...(key === undefined ? {} : { 'idempotency-key': key }) } };
  return app.inject(opts);
}

async function rowsOf(agentId: string): Promise<{ id: string; prompt: string }[]> {
  return db.orm.em.fork().getConnection().execute(`select id::text as id, prompt from feedback where agent_id = ? order by id`, [agentId]);
}

async function recordCount(key: string): Promise<number> {
  const [row] = await db.orm.em.fork().getConnection().execute<{ n: number }[]>(`select count(*)::int as n from idempotency_record where key = ?`, [key]);
  return row.n;
}

it('stores a retried single write once and replays the first answer, marked as replayed', async () => {
  const first = await post('/api/policies/feedback/agent-idem-1', item(1), 'key-single-1');
  const retry = await post('/api/policies/feedback/agent-idem-1', item(1), 'key-single-1');
  expect(first.statusCode).toBe(201);
  expect(first.headers['idempotent-replayed']).toBeUndefined();
  expect(retry.statusCode).toBe(201);
  expect(retry.json()).toEqual(first.json());
  expect(retry.headers['idempotent-replayed']).toBe('true');
  expect(await rowsOf('agent-idem-1')).toEqual([{ id: first.json().id, prompt: 'p1' }]);
});

it('stores a retried batch once, with the same ids', async () => {
  const batch = { items: [item(1), item(2), item(3)] };
  const first = await post('/api/policies/feedback/agent-idem-2/batch', batch, 'key-batch-1');
  const retry = await post('/api/policies/feedback/agent-idem-2/batch', batch, 'key-batch-1');
  expect(first.statusCode).toBe(201);
  expect(retry.json()).toEqual(first.json());
  expect((await rowsOf('agent-idem-2')).map((r) => r.id)).toEqual(first.json().ids);
});

it.each([
  ['another body', '/api/policies/feedback/agent-idem-3', item(99)],
  ['another agent', '/api/policies/feedback/agent-idem-3b', item(3)],
  ['another route (batch)', '/api/policies/feedback/agent-idem-3/batch', { items: [item(3)] }],
])('refuses the key on %s with 422 naming the header, writing nothing', async (_what, url, payload) => {
  const key = `key-reuse-${url.length}-${JSON.stringify(payload).length}`;
  expect((await post('/api/policies/feedback/agent-idem-3', item(3), key)).statusCode).toBe(201);
  const before = (await rowsOf('agent-idem-3')).length + (await rowsOf('agent-idem-3b')).length;
  const reuse = await post(url, payload, key);
  expect(reuse.statusCode).toBe(422);
  expect(reuse.json()).toMatchObject({ error: 'idempotency_key_reused', field: 'idempotency-key' });
  expect((await rowsOf('agent-idem-3')).length + (await rowsOf('agent-idem-3b')).length).toBe(before);
});

it('scopes keys to the project: another project may use the same key for its own write', async () => {
  const mine = await post('/api/policies/feedback/agent-idem-4', item(4), 'key-shared');
  const theirs = await post('/api/policies/feedback/agent-idem-4-other', item(4), 'key-shared', otherProject);
  expect([mine.statusCode, theirs.statusCode]).toEqual([201, 201]);
  expect(theirs.json().id).not.toBe(mine.json().id);
  expect(theirs.headers['idempotent-replayed']).toBeUndefined();
});

it('writes once when several requests with one key arrive at the same time', async () => {
  const answers = await Promise.all(Array.from({ length: 8 }, () => post('/api/policies/feedback/agent-idem-5', item(5), 'key-concurrent')));
  expect(answers.map((a) => a.statusCode)).toEqual(Array(8).fill(201));
  const ids = new Set(answers.map((a) => a.json().id));
  expect(ids.size).toBe(1);
  expect((await rowsOf('agent-idem-5')).map((r) => r.id)).toEqual([...ids]);
  expect(answers.filter((a) => a.headers['idempotent-replayed'] === 'true')).toHaveLength(7);
});

it('does not store a failed write: a retry is answered afresh', async () => {
  expect((await post('/api/policies/feedback/agent-idem-6', item(6), undefined, otherProject)).statusCode).toBe(201);
  // agent-idem-6 belongs to the other project: 404 for us, and the key stays unused.
  expect((await post('/api/policies/feedback/agent-idem-6', item(6), 'key-failed')).statusCode).toBe(404);
  expect(await recordCount('key-failed')).toBe(0);
  expect((await post('/api/policies/feedback/agent-idem-6b', item(6), 'key-failed')).statusCode).toBe(201);
});

it('writes twice without a key (the header is optional)', async () => {
  await post('/api/policies/feedback/agent-idem-7', item(7), undefined);
  await post('/api/policies/feedback/agent-idem-7', item(7), undefined);
  expect(await rowsOf('agent-idem-7')).toHaveLength(2);
});

it.each([
  ['empty', ''],
  ['longer than 255 characters', 'k'.repeat(256)],
  ['containing a space', 'a key'],
])('rejects a key that is %s with 400 naming the header', async (_what, key) => {
  const res = await post('/api/policies/feedback/agent-idem-8', item(8), key);
  expect(res.statusCode).toBe(400);
  expect(res.json()).toMatchObject({ error: 'validation_error', field: 'idempotency-key' });
  expect(await rowsOf('agent-idem-8')).toHaveLength(0);
});

it('forgets a key once its record is older than the TTL (the hourly sweep), and not before', async () => {
  const old = await post('/api/policies/feedback/agent-idem-9', item(9), 'key-expiring');
  await post('/api/policies/feedback/agent-idem-9', item(10), 'key-fresh');
  await db.orm.em.fork().getConnection().execute(`update idempotency_record set created_at = now() - interval '25 hours' where key = 'key-expiring'`);
  expect(await sweepIdempotencyRecords(db.orm, 24)).toBe(1);
  expect([await recordCount('key-expiring'), await recordCount('key-fresh')]).toEqual([0, 1]);
  // Past the TTL a retry is a new write (the documented contract: keys are remembered for at least 24 h).
  const late = await post('/api/policies/feedback/agent-idem-9', item(9), 'key-expiring');
  expect(late.headers['idempotent-replayed']).toBeUndefined();
  expect(late.json().id).not.toBe(old.json().id);
  expect((await post('/api/policies/feedback/agent-idem-9', item(10), 'key-fresh')).headers['idempotent-replayed']).toBe('true');
});
