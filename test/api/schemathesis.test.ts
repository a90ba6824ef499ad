/**
 * schemathesis (PyPI, installed by scripts/install-schemathesis.sh, which scripts/test.sh runs)
 * with every check against the live API: a real listener on loopback, real Postgres and Temporal,
 * the checked-in schemathesis.toml. It must end with 0 failures. Bounded (a fixed seed, a few
 * examples per operation) so it takes about two minutes on 2 cores. Skips, saying so, only when
 * schemathesis is not installed (no python3/venv/PyPI on this machine).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { TrainingRunSchema } from '../../db/entities';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { uniqueQueues } from '../helpers/temporal';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, '.cache/schemathesis-venv/bin/schemathesis');
const installed = existsSync(BIN);
if (!installed) {
  console.warn(`schemathesis is not installed at ${BIN}: run scripts/install-schemathesis.sh (needs python3-venv and PyPI); skipping the conformance run`);
}

let db: TestDatabase;
let app: FastifyInstance;
let auth: TestProjectKey;

(installed ? describe : describe.skip)('schemathesis against the live API', () => {
  beforeAll(async () => {
    db = await createTestDatabase();
    // Own task queues: no worker polls them, so a run the fuzzer manages to start stays queued (and is terminated below);
    // its event stream would follow it for ever, so streams end after 2 s (clients reconnect with Last-Event-ID).
    // The model hub is a closed local port (nothing leaves this machine): a baseModel id answers 502 at once.
    // hub/hf-hub reads HF_ENDPOINT from the process environment.
    process.env.HF_ENDPOINT = 'http://127.0.0.1:9';
    app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url, RATE_LIMIT_MAX: '100000', BULK_RATE_LIMIT_MAX: '100000', RUN_EVENTS_MAX_STREAM_S: '2' }), taskQueues: uniqueQueues() }, false);
    auth = await createTestProjectKey(db.orm);
    await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    const runs = db ? await db.orm.em.fork().find(TrainingRunSchema, {}) : [];
    for (const run of runs) await app.temporal.workflow.getHandle(run.workflowId).terminate('schemathesis cleanup').catch(() => undefined);
    await app?.close();
    await db?.dispose();
  });

  it('finds 0 failures with every check on', async () => {
    const { port } = app.server.address() as { port: number };
    const base = `http://127.0.0.1:${port}`;
    const args = [
      '--config-file', path.join(ROOT, 'schemathesis.toml'),
      'run', `${base}/docs/json`,
      '--checks', 'all',
      '--header', `Authorization: Bearer ${auth.key}`,
      '--max-examples', '6',
      '--seed', '20261203',
      '--no-color',
    ];
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(BIN, args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, SCHEMATHESIS_HOOKS: 'scripts.schemathesis_hooks' } }, (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: `${stdout}\n${stderr}` });
      });
    });
    // On failure the report's tail (each failing check, with a curl to reproduce it) is the assertion message.
    expect(code === 0 ? 'exit 0' : `exit ${code}\n${output.slice(-12_000)}`).toBe('exit 0');
    expect(output).not.toMatch(/[1-9]\d* failures?/);
  });
});
