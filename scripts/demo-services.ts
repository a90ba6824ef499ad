/**
 * Services for the demo: reuses DATABASE_URL / TEMPORAL_ADDRESS when they are set and reachable, otherwise
 * starts embedded Postgres and the Temporal dev server (persistent data under data/), and picks free ports
 * for the API and the serving process. Returns the environment the API and workers need, and an API key of the demo project
 * (created for this demo run and revoked by `revokeDemoApiKey` at its end; never printed).
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadEnv } from '../common/env';
import { createOrm } from '../db/orm';
import { ProjectRepository } from '../db/repositories/project-repository';

const run = promisify(execFile);

export interface Services {
  env: Record<string, string>;
  /** `Authorization: Bearer` key of the demo project, for every API call. */
  apiKey: DemoApiKey;
}

export interface DemoApiKey {
  key: string;
  keyId: string;
}

/** The project the demo's agent belongs to. */
export const DEMO_PROJECT = 'demo';

/** A fresh key of the demo project (created with its project on first use); migrates the database first. */
async function createDemoApiKey(databaseUrl: string): Promise<DemoApiKey> {
  const orm = await createOrm(databaseUrl);
  try {
    const repo = new ProjectRepository(orm.em.fork());
    const project = await repo.ensure(DEMO_PROJECT);
    const { key, row } = await repo.createKey(project.id, `demo-${new Date().toISOString().slice(0, 19)}`);
    return { key, keyId: row.id };
  } finally {
    await orm.close(true);
  }
}

/** Revokes the demo run's key, so keys do not pile up valid in a persistent data/postgres. */
export async function revokeDemoApiKey(databaseUrl: string, apiKey: DemoApiKey): Promise<void> {
  const orm = await createOrm(databaseUrl);
  try {
    await new ProjectRepository(orm.em.fork()).revokeKey(apiKey.keyId);
  } finally {
    await orm.close(true);
  }
}

async function freePort(preferred: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        const addr = srv.address();
        const chosen = typeof addr === 'object' && addr ? addr.port : port;
        srv.close(() => resolve(chosen));
      });
    });
  try {
    return await tryPort(preferred);
  } catch {
    return tryPort(0);
  }
}

async function startPostgres(root: string): Promise<string> {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  console.log('starting Postgres (embedded, data/postgres)…');
  const { stdout } = await run(process.execPath, [path.join(root, 'node_modules/tsx/dist/cli.mjs'), 'scripts/services/postgres.ts', 'start', '--dir', 'data/postgres', '--port', '54329'], {
    cwd: root,
    maxBuffer: 16 << 20,
  });
  const url = stdout.trim().split('\n').pop() ?? '';
  if (!url.startsWith('postgres')) throw new Error(`scripts/services/postgres.ts printed no DATABASE_URL: ${stdout}`);
  return url;
}

async function startTemporal(root: string, address: string): Promise<string> {
  console.log(`Temporal: using ${address} if it answers, else starting the dev server (data/temporal; the first run builds the CLI, ~4 min)…`);
  // start-dev.sh reuses a healthy server at TEMPORAL_ADDRESS (e.g. the one an earlier demo left running).
  const { stdout } = await run('bash', ['temporal/start-dev.sh', '--data-dir', 'data/temporal'], {
    cwd: root,
    env: { ...process.env, TEMPORAL_ADDRESS: address },
    maxBuffer: 16 << 20,
  });
  const line = stdout.split('\n').find((l) => l.startsWith('TEMPORAL_ADDRESS='));
  if (!line) throw new Error(`temporal/start-dev.sh printed no TEMPORAL_ADDRESS: ${stdout}`);
  return line.slice('TEMPORAL_ADDRESS='.length).trim();
}

export async function startServices(root: string): Promise<Services> {
  const base = loadEnv();
  const [databaseUrl, temporalAddress] = await Promise.all([startPostgres(root), startTemporal(root, base.TEMPORAL_ADDRESS)]);
  const apiPort = await freePort(base.API_PORT);
  const servePort = await freePort(base.SERVE_PORT);
  const apiKey = await createDemoApiKey(databaseUrl);
  return {
    apiKey,
    env: {
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: base.TEMPORAL_NAMESPACE,
      TEMPORAL_UI_URL: base.TEMPORAL_UI_URL,
      ARTIFACT_ROOT: path.resolve(root, base.ARTIFACT_ROOT),
      API_HOST: base.API_HOST,
      API_PORT: String(apiPort),
      SERVE_HOST: base.SERVE_HOST,
      SERVE_PORT: String(servePort),
    },
  };
}
