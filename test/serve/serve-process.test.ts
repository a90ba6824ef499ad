/**
 * `npm run serve` as operators run it: serve/server.ts as a real process on a loopback port,
 * against a real Postgres. It answers /healthz, serves a published version, and exits 0 on SIGTERM.
 */
import path from 'node:path';
import { freeLoopbackPort } from '../../common/loopback-port';
import { AgentRepository, PolicyVersionRepository } from '../../db/repositories';
import { initBackend } from '../../ml/backend';
import { GptModel } from '../../ml/model';
import { savePolicy } from '../../ml/policy-export';
import { Rng } from '../../ml/rng';
import { ByteTokenizer } from '../../ml/tokenizer';
import { tinyRunConfig } from '../ml/fixtures/ppo-setup';
import { createTestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { ProcessGroup, waitForPort } from '../helpers/processes';
import { testArtifactRoot } from '../helpers/services';

let db: TestDatabase;
const processes = new ProcessGroup();

beforeAll(async () => {
  await initBackend({ log: () => undefined });
  db = await createTestDatabase();
});
afterAll(async () => {
  await processes.stopAll();
  await db?.dispose();
});

it('serves a published version from its own process and stops cleanly on SIGTERM', async () => {
  const root = testArtifactRoot('serve-process');
  const key = await createTestProjectKey(db.orm);
  await new AgentRepository(db.orm.em.fork()).claim('agent-proc', key.projectId);
  const row = await new PolicyVersionRepository(db.orm.em.fork()).saveForRun({
    agentId: 'agent-proc',
    trainingRunId: 'run_serve_process_1',
    modelKey: 'unused',
    rewardModelKey: 'unused',
    feedbackCount: 10,
    rewardMean: 0,
    rewardStd: 1,
    metrics: {},
  });
  const config = tinyRunConfig();
  const model = GptModel.create(config.policyModel, new Rng(1));
  await savePolicy(path.join(root, 'agent-proc', row.version, 'policy'), model, new ByteTokenizer(), config);
  model.dispose();

  const port = await freeLoopbackPort();
  const serve = processes.spawnTsx('serve', 'serve/server.ts', { env: { DATABASE_URL: db.url, ARTIFACT_ROOT: root, SERVE_HOST: '127.0.0.1', SERVE_PORT: String(port), LOG_LEVEL: 'warn' } });
  await waitForPort(port, 60_000);
  const base = `http://127.0.0.1:${port}`;
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  const res = await fetch(`${base}/v1/agents/agent-proc/generate`, { method: 'POST', headers: { ...key.headers, 'content-type': 'application/json' }, body: '{"prompt":"Hi","seed":1}' });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { version: string }).version).toBe('v1');
  await serve.stop();
  expect(await serve.exited).toBe(0);
}, 120_000);
