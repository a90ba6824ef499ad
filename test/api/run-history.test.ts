/**
 * The run list, the metrics history and the event stream of finished runs, against real
 * Postgres through app.inject. Runs and their events are written with the same repositories
 * the workers use (a live run's stream is test/workflows/run-events.test.ts).
 */
import type { FastifyInstance, InjectOptions } from 'fastify';
import { runEventLog } from '../../activities/run-events';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { MetricKeys, RunPhases } from '../../common/names';
import { RunEventKinds, type RunEvent } from '../../common/run-events';
import { createRepositories, type Repositories } from '../../db/repositories';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;
let app: FastifyInstance;
let mine: TestProjectKey;
let theirs: TestProjectKey;
const repos = (): Repositories => createRepositories(db.orm.em.fork());
const get = (url: string, key: TestProjectKey = mine, headers: Record<string, string> = {}) =>
  app.inject({ method: 'GET', url, headers: { ...key.headers, ...headers } } as InjectOptions);

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url }) }, false);
  mine = await createTestProjectKey(db.orm);
  theirs = await createTestProjectKey(db.orm);
});
afterAll(async () => {
  await app.close();
  await db.dispose();
});

let seq = 0;
/** A run row of `agentId` (claimed for `key`'s project), created `agoMs` before now. */
async function makeRun(key: TestProjectKey, agentId: string, agoMs = 0): Promise<string> {
  const r = repos();
  await r.agents.claim(agentId, key.projectId);
  const id = `run_hist_${String(seq++).padStart(4, '0')}_${agentId}`.slice(0, 64);
  await r.trainingRuns.create({ id, workflowId: `train-${id}`, agentId, config: {} });
  if (agoMs) await db.orm.em.fork().execute('update training_run set created_at = now() - (? * interval \'1 millisecond\') where id = ?', [agoMs, id]);
  return id;
}

const metricsOf = (update: number) => Object.fromEntries(Object.values(MetricKeys).map((k, i) => [k, update * 100 + i])) as Record<string, number>;

/** Records what a worker records for a run of `updates` PPO updates that completes. */
async function recordRun(runId: string, updates: number): Promise<void> {
  const r = repos();
  await r.trainingRuns.setStatus(runId, 'running');
  await r.runEvents.append(runId, { kind: RunEventKinds.phase, data: { phase: RunPhases.ppo }, dedupKey: 'phase:ppo' });
  for (let u = 1; u <= updates; u++) {
    const samples = [{ prompt: `p${u}`, response: `r${u}`, score: u / 10 }];
    const data = { update: u, total: updates, metrics: metricsOf(u) as never, samples };
    await r.runEvents.append(runId, { kind: RunEventKinds.update, data, dedupKey: `update:${u}` }, { update: u, metrics: metricsOf(u), samples });
  }
  await r.trainingRuns.setStatus(runId, 'completed');
}

/** Parses an SSE body into events (comments and `retry:` skipped). */
function parseSse(body: string): RunEvent[] {
  return body
    .split('\n\n')
    .filter((block) => block.split('\n').some((l) => l.startsWith('data: ')))
    .map((block) => {
      const lines = block.split('\n');
      const id = Number(lines.find((l) => l.startsWith('id: '))!.slice(4));
      const event = lines.find((l) => l.startsWith('event: '))!.slice(7);
      const parsed = JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6)) as RunEvent;
      expect(parsed.id).toBe(id);
      expect(parsed.kind).toBe(event);
      return parsed;
    });
}

describe('GET /api/runs', () => {
  let a1: string, a2: string, b1: string, other: string;
  beforeAll(async () => {
    a1 = await makeRun(mine, 'hist-agent-a', 30_000);
    await repos().trainingRuns.setStatus(a1, 'failed', 'boom');
    a2 = await makeRun(mine, 'hist-agent-a', 20_000);
    b1 = await makeRun(mine, 'hist-agent-b', 10_000);
    other = await makeRun(theirs, 'hist-agent-theirs', 5_000);
  });

  it('lists only the project\'s runs, newest first', async () => {
    const res = await get('/api/runs');
    expect(res.statusCode).toBe(200);
    const ids = (res.json().items as { runId: string }[]).map((r) => r.runId);
    expect(ids).toEqual([b1, a2, a1]);
    expect(ids).not.toContain(other);
    expect(res.json().items[2]).toMatchObject({ runId: a1, agentId: 'hist-agent-a', status: 'failed', error: 'boom', links: { events: `/api/runs/${a1}/events` } });
    expect((await get('/api/runs', theirs)).json().items.map((r: { runId: string }) => r.runId)).toEqual([other]);
  });

  it('filters by agent, status and since', async () => {
    const ids = async (qs: string) => ((await get(`/api/runs?${qs}`)).json().items as { runId: string }[]).map((r) => r.runId);
    expect(await ids('agentId=hist-agent-a')).toEqual([a2, a1]);
    expect(await ids('status=failed')).toEqual([a1]);
    expect(await ids('status=queued&agentId=hist-agent-a')).toEqual([a2]);
    expect(await ids(`since=${encodeURIComponent(new Date(Date.now() - 15_000).toISOString())}`)).toEqual([b1]);
    // Another project's agent answers as an unknown one does, as on every agent route.
    const foreign = await get('/api/runs?agentId=hist-agent-theirs');
    expect({ status: foreign.statusCode, body: foreign.json() }).toEqual({ status: 404, body: { error: 'not_found', message: 'agent hist-agent-theirs not found', field: 'agentId' } });
  });

  it('pages with nextCursor until null, seeing every run once', async () => {
    const first = (await get('/api/runs?limit=2')).json();
    expect(first.items.map((r: { runId: string }) => r.runId)).toEqual([b1, a2]);
    expect(first.nextCursor).toMatch(new RegExp(`^[0-9]+_${a2}$`));
    const second = (await get(`/api/runs?limit=2&cursor=${first.nextCursor}`)).json();
    expect(second.items.map((r: { runId: string }) => r.runId)).toEqual([a1]);
    expect(second.nextCursor).toBeNull();
  });

  it('rejects bad filters with 400 naming the field; a cursor is a position, never another project\'s rows', async () => {
    for (const [qs, field] of [
      ['status=exploded', 'status'],
      ['since=yesterday', 'since'],
      ['limit=0', 'limit'],
      ['limit=true', 'limit'],
      ['agentId=../x', 'agentId'],
      [`cursor=${other}`, 'cursor'],
      ['cursor=0', 'cursor'],
    ]) {
      const res = await get(`/api/runs?${qs}`);
      expect([qs, res.statusCode]).toEqual([qs, 400]);
      expect(res.json().field).toBe(field);
    }
    const theirPage = (await get('/api/runs?limit=1', theirs)).json();
    expect((await get(`/api/runs?cursor=${theirPage.items[0] ? `9${'0'.repeat(16)}_${other}` : ''}`)).json().items.map((r: { runId: string }) => r.runId)).toEqual([b1, a2, a1]);
  });

  it('needs a key', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/runs' })).statusCode).toBe(401);
  });
});

describe('GET /api/runs/:runId/metrics', () => {
  let runId: string;
  beforeAll(async () => {
    runId = await makeRun(mine, 'hist-agent-metrics');
    await recordRun(runId, 5);
  });

  it('returns the recorded history with samples, paged by from/limit', async () => {
    const first = (await get(`/api/runs/${runId}/metrics?limit=2`)).json();
    expect(first.items.map((u: { update: number }) => u.update)).toEqual([1, 2]);
    expect(first.items[1].metrics).toEqual(metricsOf(2));
    expect(first.items[1].samples).toEqual([{ prompt: 'p2', response: 'r2', score: 0.2 }]);
    expect(first.nextFrom).toBe(3);
    const rest = (await get(`/api/runs/${runId}/metrics?from=${first.nextFrom}`)).json();
    expect(rest.items.map((u: { update: number }) => u.update)).toEqual([3, 4, 5]);
    expect(rest.nextFrom).toBeNull();
  });

  it('stores a sampled completion with byte 0 (which jsonb refuses) with U+FFFD in its place', async () => {
    const nul = await makeRun(mine, 'hist-agent-nul');
    const samples = [{ prompt: 'Q1: ', response: 'a\u0000b', score: 0.5 }];
    await runEventLog(db.orm).update(nul, { update: 1, total: 1, metrics: metricsOf(1) as never, samples });
    const body = (await get(`/api/runs/${nul}/metrics`)).json();
    expect(body.items[0].samples).toEqual([{ prompt: 'Q1: ', response: 'a\uFFFDb', score: 0.5 }]);
  });

  it('is a 404 for another project and for an unknown run', async () => {
    expect((await get(`/api/runs/${runId}/metrics`, theirs)).statusCode).toBe(404);
    expect((await get('/api/runs/run_nope/metrics')).statusCode).toBe(404);
    expect((await get(`/api/runs/${runId}/metrics?from=0`)).statusCode).toBe(400);
  });
});

describe('GET /api/runs/:runId/events (finished run)', () => {
  let runId: string;
  beforeAll(async () => {
    runId = await makeRun(mine, 'hist-agent-events');
    await recordRun(runId, 3);
  });

  it('streams every event in id order and ends after `end`', async () => {
    const res = await get(`/api/runs/${runId}/events`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = parseSse(res.body);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(events.map((e) => e.kind)).toEqual(['status', 'phase', 'update', 'update', 'update', 'status', 'end']);
    expect(events[2].data).toMatchObject({ update: 1, total: 3, samples: [{ prompt: 'p1' }] });
    expect(events[6].data).toEqual({ status: 'completed', error: null });
  });

  it('follow=false sends what is recorded and ends (also for a run still going)', async () => {
    const live = await makeRun(mine, 'hist-agent-live');
    await repos().trainingRuns.setStatus(live, 'running');
    const res = await get(`/api/runs/${live}/events?follow=false`);
    expect(parseSse(res.body).map((e) => e.kind)).toEqual(['status']);
  });

  it('resumes after Last-Event-ID (or ?after=) with nothing missed or repeated', async () => {
    const all = parseSse((await get(`/api/runs/${runId}/events`)).body);
    const resumed = parseSse((await get(`/api/runs/${runId}/events`, mine, { 'last-event-id': '3' })).body);
    expect(resumed).toEqual(all.slice(3));
    expect(parseSse((await get(`/api/runs/${runId}/events?after=5`)).body)).toEqual(all.slice(5));
  });

  it('records each dedup-keyed event once, and a repeated status once', async () => {
    const r = repos();
    expect(await r.runEvents.append(runId, { kind: RunEventKinds.phase, data: { phase: RunPhases.ppo }, dedupKey: 'phase:ppo' })).toBeNull();
    await r.trainingRuns.setStatus(runId, 'completed');
    expect(parseSse((await get(`/api/runs/${runId}/events`)).body)).toHaveLength(7);
  });

  it('is a 404 for another project, and a 400 for a malformed Last-Event-ID', async () => {
    expect((await get(`/api/runs/${runId}/events`, theirs)).statusCode).toBe(404);
    expect((await get(`/api/runs/${runId}/events`, mine, { 'last-event-id': 'x' })).statusCode).toBe(400);
  });
});
