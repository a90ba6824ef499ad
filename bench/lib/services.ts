/**
 * Postgres and the Temporal dev server for the benches that need them (orchestration,
 * recovery, API load). When DATABASE_URL and TEMPORAL_ADDRESS are set (bench/run-all.sh starts
 * both once) they are used; otherwise this starts its own on free loopback ports, exactly as
 * scripts/test.sh does, and stops them again. Each bench gets a fresh database of its own.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { startLocalPostgres, stopLocalPostgres } from '../../scripts/services/postgres';
import { createScratchDatabase, type ScratchDatabase } from '../../scripts/services/scratch-database';

const ROOT = path.join(__dirname, '..', '..');

export interface BenchServices {
  /** Maintenance URL (database `postgres`). */
  databaseUrl: string;
  temporalAddress: string;
  namespace: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function bash(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [path.join(ROOT, script), ...args], { cwd: ROOT, timeout: 180_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${script} failed: ${err.message}\n${stderr.slice(-1500)}`));
      else resolve(stdout);
    });
  });
}

/** The running services from the environment, or freshly started ones under a temp directory. */
export async function benchServices(log: (line: string) => void = () => undefined): Promise<BenchServices> {
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  if (process.env.DATABASE_URL && process.env.TEMPORAL_ADDRESS) {
    return { databaseUrl: process.env.DATABASE_URL, temporalAddress: process.env.TEMPORAL_ADDRESS, namespace, stop: async () => undefined };
  }
  await mkdir(path.join(ROOT, 'data'), { recursive: true });
  const dir = await mkdtemp(path.join(ROOT, 'data', 'bench-'));
  // Postgres runs as the `postgres` OS user when we are root: it must be able to enter this directory.
  await chmod(dir, 0o755);
  const pgDir = path.join(dir, 'postgres');
  const temporalDir = path.join(dir, 'temporal');
  const [pgPort, temporalPort] = [await freePort(), await freePort()];
  log(`starting Postgres (:${pgPort}) and Temporal (:${temporalPort}) under ${dir}`);
  const stop = async () => {
    await bash('temporal/stop-dev.sh', ['--data-dir', temporalDir]).catch((err: Error) => log(err.message));
    await stopLocalPostgres({ dataDir: pgDir, log }).catch((err: Error) => log(err.message));
    await rm(dir, { recursive: true, force: true });
  };
  const [pg, temporal] = await Promise.allSettled([
    startLocalPostgres({ dataDir: pgDir, port: pgPort, ephemeral: true, log }),
    bash('temporal/start-dev.sh', ['--port', String(temporalPort), '--headless', '--data-dir', temporalDir]),
  ]);
  if (pg.status === 'rejected' || temporal.status === 'rejected') {
    await stop(); // whichever did start must not outlive the bench
    throw pg.status === 'rejected' ? pg.reason : (temporal as PromiseRejectedResult).reason;
  }
  const temporalAddress = temporal.value.trim().split('\n').pop()!.replace(/^TEMPORAL_ADDRESS=/, '');
  return { databaseUrl: pg.value, temporalAddress, namespace, stop };
}

export type BenchDatabase = ScratchDatabase;

/** A new, migrated database for one bench; dispose() drops it. */
export function createBenchDatabase(maintenanceUrl: string): Promise<BenchDatabase> {
  return createScratchDatabase(maintenanceUrl, 'bench');
}
