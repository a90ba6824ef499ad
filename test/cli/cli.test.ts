/**
 * The `rlhf` CLI as a user runs it: the real bin (bin/rlhf.cjs) in a child process, against the real API
 * listening on a loopback port (api/app.ts, real Postgres, the suite's Temporal dev server), and for
 * `runs watch` real CPU/GPU workers on this file's own task queues running a real `quick` run to its end.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { initBackend } from '../../ml/backend';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { LocalArtifactStore } from '../../storage/artifact-store';
import { RlhfApiClient, type FeedbackItem } from '../../cli/api-client';
import { ApiError } from '../../cli/errors';
import { refusedLineError } from '../../cli/feedback-file';
import { gzipped, importIdempotencyKey, ndjsonChunks } from '../../cli/feedback-upload';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { connectTestEnv, uniqueId, uniqueQueues, withWorkers } from '../helpers/temporal';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'rlhf.cjs');

let db: TestDatabase;
let app: FastifyInstance;
let auth: TestProjectKey;
let baseUrl: string;
let dir: string;
let temporalEnv: TestWorkflowEnvironment;
let artifactRoot: string;
const queues = uniqueQueues();
const startedWorkflows: string[] = [];

beforeAll(async () => {
  await initBackend({ log: () => undefined });
  temporalEnv = await connectTestEnv();
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), 'rlhf-cli-'));
  artifactRoot = path.join(dir, 'artifacts');
  // AUTH_CACHE_TTL_MS 0: `keys revoke` is refused at the very next request (the cache's bound, 5 s by default,
  // is tested in test/api/feedback-lookups.test.ts).
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url, ARTIFACT_ROOT: artifactRoot, AUTH_CACHE_TTL_MS: '0' }), taskQueues: queues }, false);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  baseUrl = `http://127.0.0.1:${address.port}`;
  auth = await createTestProjectKey(db.orm);
});

afterAll(async () => {
  for (const id of startedWorkflows) await app.temporal.workflow.getHandle(id).terminate('test cleanup').catch(() => undefined);
  await app?.close();
  await db?.dispose();
  await temporalEnv?.teardown();
  await rm(dir, { recursive: true, force: true });
});

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `rlhf <args>` with only the given environment (plus PATH), the way a user's shell would. */
function rlhf(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const apiEnv = () => ({ RLHF_API_URL: baseUrl, RLHF_API_KEY: auth.key });

async function feedbackCount(agentId: string): Promise<number> {
  const rows = await db.orm.em.fork().getConnection().execute<{ n: number }[]>('select count(*)::int as n from feedback where agent_id = ?', [agentId]);
  return rows[0].n;
}

/** `n` (default 1,000) synthetic rows as JSONL; `mutate` may replace a line (1-based). */
async function writeRows(name: string, mutate?: (line: number, row: Record<string, unknown>) => string | null, n = 1000): Promise<string> {
  const rows = makeSyntheticFeedback(n, new Rng(3), { noiseStd: 0.1 });
  const lines = rows.map((row, i) => mutate?.(i + 1, { ...row }) ?? JSON.stringify(row));
  const file = path.join(dir, name);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

describe('rlhf feedback import', () => {
  it('refuses a file of 1,000 rows with one bad line, naming the line and field, and writes nothing', async () => {
    const agentId = uniqueId('cli-bad');
    const file = await writeRows('bad.jsonl', (line, row) => (line === 517 ? JSON.stringify({ ...row, score: 'high' }) : null));
    const res = await rlhf(['feedback', 'import', file, '--agent', agentId], apiEnv());
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`${file}:517: field "score" must be number`);
    // Checked before the request: nothing was sent, so not even the agent exists.
    expect(res.stderr).not.toContain('sent ');
    expect(await feedbackCount(agentId)).toBe(0);

    const broken = await writeRows('broken.jsonl', (line) => (line === 3 ? '{"prompt": "a", ' : null));
    const res2 = await rlhf(['feedback', 'import', broken, '--agent', agentId], apiEnv());
    expect(res2.code).toBe(1);
    expect(res2.stderr).toContain(`${broken}:3: not valid JSON`);
    const extra = await writeRows('extra.jsonl', (line, row) => (line === 1000 ? JSON.stringify({ ...row, colour: 'red' }) : null));
    const res3 = await rlhf(['feedback', 'import', extra, '--agent', agentId], apiEnv());
    expect(res3.code).toBe(1);
    expect(res3.stderr).toContain(`${extra}:1000: field "colour" is not a feedback field`);
    expect(await feedbackCount(agentId)).toBe(0);
  });

  it('imports 1,000 rows in one gzipped NDJSON request with a byte progress bar; running it again replays and writes nothing twice', async () => {
    const agentId = uniqueId('cli-good');
    const file = await writeRows('good.jsonl');
    const first = await rlhf(['feedback', 'import', file, '--agent', agentId], apiEnv());
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toContain(`imported 1000 rows for agent ${agentId} in one request`);
    expect(first.stdout).not.toContain('replayed');
    // Not a terminal: one line per whole percent reached, from 0 to 100.
    const bar = first.stderr.trim().split('\n');
    expect(bar[0]).toMatch(/^sent {2}░{24} {4}0% of \d+\.\d kB$/);
    expect(bar[bar.length - 1]).toMatch(/^sent {2}█{24} {2}100% of \d+\.\d kB$/);
    const percents = bar.map((l) => Number(/(\d+)% of/.exec(l)?.[1]));
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(await feedbackCount(agentId)).toBe(1000);

    // Uncompressed this time: the server hashes the decoded body, so it is the same request and replays.
    const again = await rlhf(['--json', 'feedback', 'import', file, '--agent', agentId, '--no-gzip'], apiEnv());
    expect(again.code).toBe(0);
    const summary = JSON.parse(again.stdout) as { rows: number; imported: number; replayed: boolean; idempotencyKey: string };
    expect(summary).toMatchObject({ rows: 1000, imported: 1000, replayed: true });
    expect(await feedbackCount(agentId)).toBe(1000);
    // The key is derived from the file's content, the agent and the default runId only.
    const sha = { sha256: 'a'.repeat(64) };
    expect(importIdempotencyKey(sha, agentId, 'cli-import')).toBe(importIdempotencyKey(sha, agentId, 'cli-import'));
    expect(importIdempotencyKey(sha, agentId, 'cli-import')).not.toBe(importIdempotencyKey(sha, `${agentId}x`, 'cli-import'));
    expect(importIdempotencyKey(sha, agentId, 'cli-import')).not.toBe(importIdempotencyKey(sha, agentId, 'other'));
  });

  it('names a line the server refuses (a check the CLI lacks) as file:line with its field, and nothing is kept', async () => {
    const agentId = uniqueId('cli-refused');
    const rows = makeSyntheticFeedback(3000, new Rng(5), { noiseStd: 0.1 }).map((r, i): FeedbackItem => ({ ...r, runId: 'r', ...(i === 2499 ? { score: 'high' as unknown as number } : {}) }));
    const client = new RlhfApiClient({ baseUrl, apiKey: auth.key });
    const upload = { contentType: 'application/x-ndjson', contentEncoding: 'gzip', open: () => gzipped(ndjsonChunks(rows)) };
    const err = await client.feedbackImport(agentId, upload, `test-${agentId}`).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: 'validation_error', line: 2500, field: 'score' });
    // A file whose first line is blank: its row N is on line N + 1.
    const named = refusedLineError({ path: 'rows.jsonl', lines: rows.map((_, i) => i + 2) }, err as ApiError & { line: number });
    expect(named.message).toMatch(/^rows\.jsonl:2501: field "score" must be number/);
    expect(await feedbackCount(agentId)).toBe(0);
  });
});

describe('exit codes', () => {
  it('0 on success and --help, 1 when the API refuses, 2 on usage errors (nothing sent)', async () => {
    expect((await rlhf(['--help'])).code).toBe(0);
    expect((await rlhf(['runs', 'watch', '--help'])).code).toBe(0);
    for (const args of [['bogus'], ['runs'], ['runs', 'watch'], ['train', 'a', '--max-steps', 'x'], ['train', 'a', '--preset', 'huge'], ['feedback', 'import', 'f.jsonl'], ['--bogus']]) {
      const res = await rlhf(args, apiEnv());
      expect({ args, code: res.code }).toEqual({ args, code: 2 });
    }
    // No API key configured: a usage error that says how to configure one.
    const noKey = await rlhf(['policies', 'list', 'a'], { RLHF_API_URL: baseUrl });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('RLHF_API_KEY');
    // The API refuses: 404 for an agent of no project's, 401 for a wrong key.
    const unknown = await rlhf(['policies', 'list', 'no-such-agent'], apiEnv());
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/answered 404/);
    const wrongKey = await rlhf(['policies', 'list', 'a'], { RLHF_API_URL: baseUrl, RLHF_API_KEY: 'rlhf_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/answered 401/);
    // Flags win over the environment.
    const flags = await rlhf(['--api-url', baseUrl, '--api-key', auth.key, 'train', 'no-such-agent', '--dry-run'], { RLHF_API_KEY: 'wrong' });
    expect(flags.code).toBe(1);
    expect(flags.stderr).toMatch(/answered 40[04]/);
    expect(flags.stderr).not.toMatch(/401/);
  });
});

describe('rlhf keys', () => {
  it('creates a key that works, lists it without its secret, and revokes it', async () => {
    const project = `cli-keys-${uniqueId('p')}`;
    const dbEnv = { DATABASE_URL: db.url };
    const created = await rlhf(['keys', 'create', '--project', project, '--name', 'ci'], dbEnv);
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^rlhf_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    // The new key authenticates (its project simply has no such agent).
    const withKey = await rlhf(['policies', 'list', 'a'], { RLHF_API_URL: baseUrl, RLHF_API_KEY: key });
    expect(withKey.stderr).toMatch(/answered 404/);

    const listed = await rlhf(['--json', 'keys', 'list', '--project', project], dbEnv);
    expect(listed.code).toBe(0);
    const rows = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ name: 'ci', prefix: key.split('_')[1], revokedAt: null });
    expect(rows[0]).not.toHaveProperty('keyHash');
    expect(listed.stdout).not.toContain(key.split('_')[2]);

    const revoked = await rlhf(['keys', 'revoke', String(rows[0].id)], dbEnv);
    expect(revoked).toMatchObject({ code: 0, stdout: `key ${String(rows[0].id)} revoked\n` });
    const after = await rlhf(['policies', 'list', 'a'], { RLHF_API_URL: baseUrl, RLHF_API_KEY: key });
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/answered 401/);
    expect((await rlhf(['keys', 'revoke', '00000000-0000-4000-8000-000000000000'], dbEnv)).code).toBe(1);
    expect((await rlhf(['keys', 'revoke', 'not-a-uuid'], dbEnv)).code).toBe(2);
    expect((await rlhf(['keys', 'list', '--project', project])).code).toBe(2); // no DATABASE_URL
  });
});

describe('rlhf runs', () => {
  it('pause, resume and cancel reach the run’s workflow', async () => {
    const agentId = uniqueId('cli-ctl');
    const file = await writeRows('ctl.jsonl');
    expect((await rlhf(['feedback', 'import', file, '--agent', agentId], apiEnv())).code).toBe(0);
    // No worker polls this run's queue: it stays queued, enough to see the signals land in its history.
    const started = await rlhf(['train', agentId, '--max-steps', '2'], apiEnv());
    expect(started.code).toBe(0);
    const runId = started.stdout.trim();
    const workflowId = `train-${runId}`;
    startedWorkflows.push(workflowId);
    // runs list: the list route when this server has it (GET /api/runs), else a clear failure naming it.
    const listed = await rlhf(['--json', 'runs', 'list', '--agent', agentId], apiEnv());
    if (app.hasRoute({ method: 'GET', url: '/api/runs' })) {
      expect(listed.code).toBe(0);
      expect((JSON.parse(listed.stdout) as { items: Array<{ runId: string }> }).items.map((r) => r.runId)).toEqual([runId]);
    } else {
      expect(listed.code).toBe(1);
      expect(listed.stderr).toContain('this API server has no GET /api/runs route');
    }
    for (const action of ['pause', 'resume', 'cancel']) {
      const res = await rlhf(['runs', action, runId], apiEnv());
      expect({ action, code: res.code, stdout: res.stdout }).toEqual({ action, code: 0, stdout: `${action} of run ${runId} accepted\n` });
    }
    const history = await app.temporal.workflow.getHandle(workflowId).fetchHistory();
    const signals = history.events?.map((e) => e.workflowExecutionSignaledEventAttributes?.signalName).filter(Boolean);
    expect(signals).toEqual(['pause', 'resume']);
    expect(history.events?.some((e) => e.workflowExecutionCancelRequestedEventAttributes)).toBe(true);
    expect((await rlhf(['runs', 'pause', 'run_doesnotexist'], apiEnv())).code).toBe(1);
  });

  it('train --dry-run prints the estimate; runs watch follows a real run to its end and prints the result; policies list shows it', async () => {
    const agentId = uniqueId('cli-run');
    // 100 rows, as test/workflows/rest-to-policy: the reward model of a 1,000-row set takes minutes on a loaded 2-core host.
    const file = await writeRows('run.jsonl', undefined, 100);
    expect((await rlhf(['feedback', 'import', file, '--agent', agentId], apiEnv())).code).toBe(0);
    const dry = await rlhf(['train', agentId, '--preset', 'quick', '--max-steps', '2', '--dry-run'], apiEnv());
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^PPO updates\s+2$/m);
    expect(dry.stdout).toMatch(/^feedback rows\s+100$/m);

    await withWorkers(temporalEnv, { orm: db.orm, store: new LocalArtifactStore(artifactRoot), queues }, async () => {
      const started = await rlhf(['train', agentId, '--preset', 'quick', '--max-steps', '2', '--seed', '5'], apiEnv());
      expect(started.code).toBe(0);
      const runId = started.stdout.trim();
      expect(runId).toMatch(/^run_/);
      startedWorkflows.push(`train-${runId}`);

      const watched = await rlhf(['runs', 'watch', runId, '--interval-ms', '200'], apiEnv());
      expect(watched.code).toBe(0);
      // The progress lines (stderr, one per change off a terminal) end on the completed run's last step.
      const lines = watched.stderr.trim().split('\n');
      expect(lines.at(-1)).toBe(`run ${runId} completed`);
      expect(lines.at(-2)).toMatch(/^\[completed\s*\]\s+█{24}\s+2\/2/);
      // The result table (stdout).
      expect(watched.stdout).toMatch(/^status\s+trained$/m);
      expect(watched.stdout).toMatch(/^version\s+v1$/m);
      expect(watched.stdout).toMatch(/^trainingSteps\s+2$/m);
      expect(watched.stdout).toMatch(new RegExp(`^runId\\s+${runId}$`, 'm'));

      // Watching a finished run answers at once with the same table.
      const again = await rlhf(['runs', 'watch', runId], apiEnv());
      expect(again.code).toBe(0);
      expect(again.stdout).toBe(watched.stdout);
    });

    const policies = await rlhf(['policies', 'list', agentId], apiEnv());
    expect(policies.code).toBe(0);
    expect(policies.stdout).toMatch(/^v1\s+\S+\s+100\s/m);
  }, 600_000);
});
