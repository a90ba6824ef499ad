/**
 * `baseModel` (a Hugging Face Hub id) on the train route, against a real local HTTP server in the
 * hub's URL layout serving the committed tiny-gpt2 fixture (test/hf/hub-server.ts), reached
 * through HF_ENDPOINT. The dry run shapes the policy from the hub's config.json; bad requests are
 * 400s naming the field; an unreachable hub is a 502.
 */
import { promises as fs } from 'node:fs';
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { FIXTURE_DIR } from '../hf/fixture';
import { startHub, type Served } from '../hf/hub-server';

let db: TestDatabase;
let app: FastifyInstance;
let owner: TestProjectKey;
let hub: http.Server;
let sandbox: string;
const saved = { HF_ENDPOINT: process.env.HF_ENDPOINT, RLHF_HF_CACHE: process.env.RLHF_HF_CACHE };

beforeAll(async () => {
  sandbox = await fs.mkdtemp(path.join(os.tmpdir(), 'hub-api-'));
  const files = new Map<string, Buffer>();
  for (const f of await fs.readdir(FIXTURE_DIR)) if (f !== 'expected.json') files.set(f, await fs.readFile(path.join(FIXTURE_DIR, f)));
  const served: Served = { repos: new Map([['org/tiny-gpt2', files]]), badSha: new Set(), cutNextCdnTransfer: false, log: [] };
  hub = await startHub(served);
  process.env.HF_ENDPOINT = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
  process.env.RLHF_HF_CACHE = path.join(sandbox, 'hf-cache');
  db = await createTestDatabase();
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url, ARTIFACT_ROOT: path.join(sandbox, 'root') }) }, false);
  owner = await createTestProjectKey(db.orm);
  const items = Array.from({ length: 10 }, (_, i) => ({ prompt: `p${i}`, response: 'r', score: i, runId: 'rt-1' }));
  expect((await app.inject({ method: 'POST', url: '/api/policies/feedback/hub-agent/batch', payload: { items }, headers: owner.headers })).statusCode).toBe(201);
});

afterAll(async () => {
  await app?.close();
  await db?.dispose();
  await new Promise((resolve) => hub?.close(resolve));
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  await fs.rm(sandbox, { recursive: true, force: true });
});

const train = (payload: Record<string, unknown>) =>
  app.inject({ method: 'POST', url: '/api/policies/train_policy/hub-agent', payload, headers: owner.headers });

test('a dry run with baseModel shapes the policy from the hub config.json, fetched into the cache', async () => {
  const expected = JSON.parse(await fs.readFile(path.join(FIXTURE_DIR, 'config.json'), 'utf8')) as { n_embd: number; n_layer: number; vocab_size: number };
  const res = await train({ dryRun: true, baseModel: 'org/tiny-gpt2' });
  expect(res.statusCode).toBe(200);
  const policy = res.json().modelConfig.policy;
  expect([policy.nEmbd, policy.nLayer, policy.vocabSize]).toEqual([expected.n_embd, expected.n_layer, expected.vocab_size]);
  expect(await fs.readdir(path.join(sandbox, 'hf-cache', 'org--tiny-gpt2', 'main'))).toContain('config.json');
});

test('bad baseModel requests are 400s naming the field; an unreachable hub is a 502', async () => {
  const cases: [Record<string, unknown>, number, string][] = [
    [{ dryRun: true, baseModel: 'org/missing' }, 400, 'baseModel'],
    [{ dryRun: true, baseModel: '../etc' }, 400, 'baseModel'],
    [{ dryRun: true, baseModel: 'org/tiny-gpt2', baseModelDir: 'x' }, 400, 'baseModel'],
    [{ dryRun: true, baseModelRevision: 'main' }, 400, 'baseModelRevision'],
  ];
  for (const [payload, status, field] of cases) {
    const res = await train(payload);
    expect({ payload, status: res.statusCode, field: res.json().field ?? res.json().message }).toEqual({ payload, status, field: expect.stringContaining(field) });
  }
  process.env.HF_ENDPOINT = 'http://127.0.0.1:9';
  const res = await train({ dryRun: true, baseModel: 'org/other' });
  expect([res.statusCode, res.json().field]).toEqual([502, 'baseModel']);
});
