/**
 * The run event stream of a real run: REST feedback and train_policy, real CPU/GPU workers on the
 * Temporal dev server, real Postgres, and the API listening on loopback (SSE needs a real socket
 * to disconnect from). A client reads the stream until the first PPO update, disconnects, waits
 * until the run has recorded more events, reconnects with Last-Event-ID and reads to the end:
 * together the two reads hold every event exactly once, ids 1..N with no gap, identical to a
 * fresh read of the finished run. The metrics history equals the update events and the
 * per-update JSON the PPO chunk wrote to the artifact store, and progress moved per update.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { runArtifacts } from '../../storage/artifact-keys';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { RunPhases } from '../../common/names';
import { RunEventKinds, SAMPLES_PER_UPDATE, type RunEvent, type UpdateEventData } from '../../common/run-events';
import { initBackend } from '../../ml/backend';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { readSse } from '../helpers/sse';
import { connectTestEnv, eventually, uniqueId, uniqueQueues, withWorkers } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let root: string;
let store: LocalArtifactStore;
let app: FastifyInstance;
let auth: TestProjectKey;
let other: TestProjectKey;
let base: string;
const queues = uniqueQueues();
const UPDATES = 4;

beforeAll(async () => {
  await initBackend({ log: () => undefined });
  env = await connectTestEnv();
  db = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), 'run-events-'));
  store = new LocalArtifactStore(root);
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url, ARTIFACT_ROOT: root }), taskQueues: queues }, false);
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  auth = await createTestProjectKey(db.orm);
  other = await createTestProjectKey(db.orm);
});

afterAll(async () => {
  await app?.close();
  await db?.dispose();
  await env?.teardown();
  await rm(root, { recursive: true, force: true });
});

const api = async (url: string, init: RequestInit = {}, key: TestProjectKey = auth) => {
  const res = await fetch(`${base}${url}`, { ...init, headers: { 'content-type': 'application/json', ...key.headers, ...(init.headers as Record<string, string>) } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

// A whole quick run on 2 shared cores: minutes (rest-to-policy.test.ts allows 280 s for one under light load).
const RUN_LIMIT_MS = 600_000;

it('streams a live run: disconnect, resume with Last-Event-ID, nothing missed or repeated', async () => {
  const agentId = uniqueId('sse-agent');
  const rows = makeSyntheticFeedback(100, new Rng(41), { noiseStd: 0.05 });
  expect((await api(`/api/policies/feedback/${agentId}/batch`, { method: 'POST', body: JSON.stringify({ items: rows.map((r) => ({ ...r, runId: 'sse-e2e' })) }) })).status).toBe(201);

  await withWorkers(env, { orm: db.orm, store, queues }, async () => {
    const started = await api(`/api/policies/train_policy/${agentId}`, { method: 'POST', body: JSON.stringify({ preset: 'quick', maxSteps: UPDATES, seed: 9 }) });
    expect(started.status).toBe(202);
    const runId = String(started.body.runId);
    const eventsUrl = `${base}/api/runs/${runId}/events`;

    // Another project's key cannot open the stream.
    expect((await fetch(eventsUrl, { headers: other.headers })).status).toBe(404);

    // First connection: read until the first PPO update, checking progress per update, then disconnect.
    const stepsSeen: number[] = [];
    const first = await readSse(eventsUrl, auth.headers, (events) => events.some((e) => e.kind === RunEventKinds.update));
    expect(first.ended).toBe(false);
    const firstUpdate = first.events.find((e) => e.kind === RunEventKinds.update)!.data as UpdateEventData;
    const progress = (await api(`/api/runs/${runId}`)).body.progress as { phase: string; step: number } | null;
    if (progress?.phase === RunPhases.ppo) stepsSeen.push(progress.step);
    const lastSeen = first.events[first.events.length - 1].id;

    // While disconnected, the run goes on: wait until it has recorded more events.
    await eventually(
      async () => {
        const list = (await api(`/api/runs?agentId=${agentId}`)).body.items as { runId: string; lastEventId: number }[];
        return list[0].lastEventId > lastSeen + 1 ? true : undefined;
      },
      'more events while disconnected',
      RUN_LIMIT_MS,
    );

    // Second connection resumes after the last event seen and reads to the end of the run.
    const second = await readSse(eventsUrl, { ...auth.headers, 'last-event-id': String(lastSeen) });
    expect(second.ended).toBe(true);
    const joined: RunEvent[] = [...first.events, ...second.events];
    expect(joined.map((e) => e.id)).toEqual(joined.map((_, i) => i + 1));
    expect(joined[joined.length - 1]).toMatchObject({ kind: RunEventKinds.end, data: { status: 'completed', error: null } });

    // A fresh read of the finished run gives exactly the same events.
    const replay = await readSse(eventsUrl, auth.headers);
    expect(replay.ended).toBe(true);
    expect(replay.events).toEqual(joined);

    // What the stream holds: every phase in order, each update and checkpoint once, the gate's verdict.
    const phases = joined.filter((e) => e.kind === RunEventKinds.phase).map((e) => (e.data as { phase: string }).phase);
    expect(phases).toEqual([RunPhases.loadFeedback, RunPhases.splitDataset, RunPhases.rewardModel, RunPhases.sft, RunPhases.ppo, RunPhases.save]);
    const updates = joined.filter((e) => e.kind === RunEventKinds.update).map((e) => e.data as UpdateEventData);
    expect(updates.map((u) => u.update)).toEqual([1, 2, 3, 4]);
    expect(updates.every((u) => u.total === UPDATES && u.samples.length > 0 && u.samples.length <= SAMPLES_PER_UPDATE)).toBe(true);
    expect(updates[0]).toEqual(firstUpdate);
    const checkpoints = joined.filter((e) => e.kind === RunEventKinds.checkpoint).map((e) => (e.data as { update: number }).update);
    expect(checkpoints).toEqual([1, 2, 3, 4]);
    expect(joined.find((e) => e.kind === RunEventKinds.rewardModel)?.data).toMatchObject({ passed: true, valPearson: expect.any(Number) });
    const statuses = joined.filter((e) => e.kind === RunEventKinds.status).map((e) => (e.data as { status: string }).status);
    expect(statuses).toEqual(['running', 'completed']);

    // The metrics history is what the worker stored: the update events and the artifact store's per-update JSON.
    const history = (await api(`/api/runs/${runId}/metrics`)).body as { items: { update: number; metrics: Record<string, number>; samples: unknown[] }[]; nextFrom: number | null };
    expect(history.items.map((u) => u.update)).toEqual([1, 2, 3, 4]);
    expect(history.nextFrom).toBeNull();
    for (const [i, item] of history.items.entries()) {
      expect(item.metrics).toEqual(updates[i].metrics);
      expect(item.samples).toEqual(updates[i].samples);
      expect(item.metrics).toEqual(await store.readJson(runArtifacts.metrics(runId, item.update)));
    }
    expect((await api(`/api/runs/${runId}/metrics`, {}, other)).status).toBe(404);

    // The progress answer read mid-PPO was at least the update the stream had shown.
    expect(stepsSeen.every((s) => s >= firstUpdate.update)).toBe(true);
  });
}, RUN_LIMIT_MS + 60_000);
