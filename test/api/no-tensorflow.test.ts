/**
 * The API process never loads TensorFlow.js (issue 16): it validates and sizes runs from the
 * pure run spec (spec/) and reads model headers without tensors, so an API replica carries no
 * native TensorFlow library and no tensor memory. The ESLint rule for api/ forbids importing
 * ml/; this test checks the same at run time, on the real server process (api/server.ts):
 * started, asked for its health and a dry-run estimate, stopped with SIGTERM, and then
 * require.cache, as the process left it, holds no @tensorflow module and nothing from ml/
 * beyond its tensor-free tokenizer files.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freeLoopbackPort } from '../../common/loopback-port';
import { createTestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { ProcessGroup, waitForPort } from '../helpers/processes';
import { testArtifactRoot, testServices } from '../helpers/services';

const ROOT = path.resolve(__dirname, '..', '..');
const RECORDER = path.join(__dirname, 'fixtures', 'record-loaded-modules.cjs');
/** ml/ files the run spec may use (tokenizers and the seeded RNG): none of them imports tensors. */
const TENSOR_FREE_ML = /\/ml\/(rng|tokenizer|bpe-training|run-tokenizer|hf\/bpe-tokenizer|hf\/byte-level)\.ts$/;

let db: TestDatabase;
const processes = new ProcessGroup();

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await processes.stopAll();
  await db?.dispose();
});

it('the API server process never loads @tensorflow or tensor code, even for a dry run', async () => {
  const services = testServices();
  const listFile = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'api-modules-')), 'modules.txt');
  const key = await createTestProjectKey(db.orm);
  const port = await freeLoopbackPort();
  const api = processes.spawnTsx('api', 'api/server.ts', {
    env: {
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: services.temporalAddress,
      TEMPORAL_NAMESPACE: services.temporalNamespace,
      ARTIFACT_ROOT: testArtifactRoot('no-tensorflow'),
      API_HOST: '127.0.0.1',
      API_PORT: String(port),
      LOG_LEVEL: 'warn',
      NODE_OPTIONS: `--require ${RECORDER}`,
      LOADED_MODULES_FILE: listFile,
    },
  });
  await waitForPort(port, 60_000);
  const base = `http://127.0.0.1:${port}`;
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  const headers = { ...key.headers, 'content-type': 'application/json' };
  const rows = Array.from({ length: 12 }, (_, i) => ({ prompt: `question ${i}`, response: `answer ${i}`, score: (i % 5) / 4, runId: 'run-no-tf' }));
  const posted = await fetch(`${base}/api/policies/feedback/agent-no-tf/batch`, { method: 'POST', headers, body: JSON.stringify({ items: rows }) });
  expect(`${posted.status} ${await posted.text()}`).toMatch(/^201 /);
  const dryRun = await fetch(`${base}/api/policies/train_policy/agent-no-tf`, { method: 'POST', headers, body: JSON.stringify({ preset: 'quick', dryRun: true }) });
  expect(`${dryRun.status} ${await dryRun.text()}`).toMatch(/^200 .*"dry_run"/);
  await api.stop();

  const loaded = (await fs.readFile(listFile, 'utf8')).split('\n').filter(Boolean);
  // The recorder saw the server itself (so an empty list cannot pass).
  expect(loaded).toContain(path.join(ROOT, 'api', 'app.ts'));
  expect(loaded).toContain(path.join(ROOT, 'spec', 'run-config.ts'));
  expect(loaded.filter((m) => m.includes('@tensorflow'))).toEqual([]);
  const ml = loaded.filter((m) => m.startsWith(path.join(ROOT, 'ml') + path.sep));
  expect(ml.filter((m) => !TENSOR_FREE_ML.test(m))).toEqual([]);
}, 120_000);
