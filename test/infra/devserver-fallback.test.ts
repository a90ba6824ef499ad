/**
 * Issue 4's fallback route end to end: with TEMPORAL_PROVISION=devserver, temporal/provision.sh
 * builds (or reuses) our own dev server from temporal/devserver; temporal/start-dev.sh runs it
 * headless on a free port with a fresh data directory and a non-default namespace, exactly as it
 * runs the CLI; the server it starts has the namespace and the two Keyword search attributes, and
 * runs a real workflow that uses both; temporal/stop-dev.sh stops it and leaves no process behind.
 *
 * The first run on a machine compiles the server (minutes with a cold Go build cache, about 20 s
 * after the CLI build has warmed it), hence the long hook timeout.
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import { SearchAttributeKeys, RunPhases } from '../../common/names';
import { freeLoopbackPort } from '../helpers/browser';
import { installQuietRuntime, uniqueId } from '../helpers/temporal';
import { agentIdKey, markCompleted, runPhaseKey } from './fixtures/devserver-workflows';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..');
const NAMESPACE = 'devserver-fallback';
/** A cold Go build of go.temporal.io/server on two shared cores, with room to spare. */
const BUILD_LIMIT_MS = 25 * 60_000;

/**
 * The environment for the scripts: the fallback forced, and none of the suite's own Temporal
 * settings (start-dev.sh would reuse a healthy TEMPORAL_ADDRESS instead of starting a server).
 */
function fallbackEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_PROVISION: 'devserver', TEMPORAL_NAMESPACE: NAMESPACE };
  delete env.TEMPORAL_CLI_PATH;
  delete env.TEMPORAL_ADDRESS;
  return env;
}

function script(name: string, args: string[], timeout: number) {
  return run('bash', [path.join(ROOT, 'temporal', name), ...args], { cwd: ROOT, env: fallbackEnv(), timeout });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the own dev-server fallback (TEMPORAL_PROVISION=devserver)', () => {
  let dataDir: string;
  let serverPath: string;
  let address: string;
  let serverPid: number;

  beforeAll(async () => {
    installQuietRuntime();
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'rlhf-devserver-'));
    serverPath = (await script('provision.sh', [], BUILD_LIMIT_MS)).stdout.trim();
    const port = await freeLoopbackPort();
    const { stdout } = await script('start-dev.sh', ['--port', String(port), '--headless', '--data-dir', dataDir], 180_000);
    address = stdout.trim().replace(/^TEMPORAL_ADDRESS=/, '');
    serverPid = Number(await fs.readFile(path.join(dataDir, 'dev.pid'), 'utf8'));
  }, BUILD_LIMIT_MS + 200_000);

  afterAll(async () => {
    if (dataDir === undefined) return;
    await script('stop-dev.sh', ['--data-dir', dataDir], 60_000);
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('provisions our binary, not the CLI, and it answers --version in the CLI shape', async () => {
    expect(serverPath).toBe(path.join(ROOT, '.cache', 'bin', 'temporal-devserver'));
    const { stdout } = await run(serverPath, ['--version']);
    expect(stdout).toMatch(/^temporal version \S+ \(Server \d+\.\d+\.\d+, UI \d+\.\d+\.\d+\)/);
    expect(stdout).not.toMatch(/version 1\.5\.1\b/);
  });

  it('start-dev.sh started it on the requested port with the namespace and both Keyword search attributes', async () => {
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    const connection = await Connection.connect({ address });
    try {
      const described = await connection.workflowService.describeNamespace({ namespace: NAMESPACE });
      expect(described.namespaceInfo?.name).toBe(NAMESPACE);
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: NAMESPACE });
      const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
      expect(customAttributes?.[SearchAttributeKeys.agentId]).toBe(keyword);
      expect(customAttributes?.[SearchAttributeKeys.runPhase]).toBe(keyword);
    } finally {
      await connection.close();
    }
  });

  it('runs a workflow started with AgentId that upserts RunPhase', async () => {
    const taskQueue = uniqueId('devserver');
    const agentId = uniqueId('agent');
    const nativeConnection = await NativeConnection.connect({ address });
    const connection = await Connection.connect({ address });
    try {
      const worker = await Worker.create({
        connection: nativeConnection,
        namespace: NAMESPACE,
        taskQueue,
        workflowsPath: require.resolve('./fixtures/devserver-workflows'),
      });
      const client = new Client({ connection, namespace: NAMESPACE });
      const handle = await worker.runUntil(async () => {
        const started = await client.workflow.start(markCompleted, {
          taskQueue,
          workflowId: uniqueId('devserver-wf'),
          typedSearchAttributes: [{ key: agentIdKey, value: agentId }],
        });
        expect(await started.result()).toBe(agentId);
        return started;
      });
      const description = await handle.describe();
      expect(description.status.name).toBe('COMPLETED');
      expect(description.typedSearchAttributes.get(agentIdKey)).toBe(agentId);
      expect(description.typedSearchAttributes.get(runPhaseKey)).toBe(RunPhases.completed);
    } finally {
      await connection.close();
      await nativeConnection.close();
    }
  });

  it('stop-dev.sh stops it and removes the pid file', async () => {
    expect(isAlive(serverPid)).toBe(true);
    await script('stop-dev.sh', ['--data-dir', dataDir], 60_000);
    expect(isAlive(serverPid)).toBe(false);
    expect(existsSync(path.join(dataDir, 'dev.pid'))).toBe(false);
    expect(existsSync(path.join(dataDir, 'dev.db'))).toBe(true);
  });
});
