/**
 * Fault test 5 (issue 5): Postgres is stopped twice during a run, each time while an
 * activity is inside its SQL: during `load feedback` (its SELECT held up by a table lock the
 * test takes, so the outage hits that exact query) and during `save policy` (held up on the
 * agent's advisory lock). Activities retry with backoff and the run completes once Postgres
 * is back, with exactly one PolicyVersion. Meanwhile a client keeps posting feedback to the
 * API process, retrying each write with its Idempotency-Key until acknowledged: while
 * Postgres is down the API answers 503, and at the end every acknowledged write is stored
 * exactly once (none lost, none doubled by a retry whose first attempt did commit).
 *
 * Its own Postgres (embedded binaries via scripts/services/postgres.ts, a throw-away data
 * dir and port), so stopping it disturbs no other test file.
 */
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { knex, type Knex } from '@mikro-orm/postgresql';
import { createOrm } from '../../db/orm';
import { PolicyVersionRepository, TrainingRunRepository } from '../../db/repositories';
import { Rng } from '../../ml/rng';
import { makeSyntheticFeedback } from '../../ml/synthetic-task';
import { startLocalPostgres, stopLocalPostgres } from '../../scripts/services/postgres';
import type { TrainPolicyResult } from '../../contract/run-contract';
import { createTestProjectKey } from '../helpers/auth';
import { freeLoopbackPort } from '../helpers/browser';
import { sleep, waitForPort } from '../helpers/processes';
import { ChaosCluster, tinyPatch, until, type StartedRun } from './cluster';

/** Retries an activity must have made against the dead database before Postgres returns. */
const MIN_FAILED_ATTEMPTS = 3;

let pgDir: string;
let pgPort: number;
let databaseUrl: string;
let orm: MikroORM;
let cluster: ChaosCluster;
let apiPort: number;
let headers: Record<string, string>;
let api: ReturnType<ChaosCluster['processes']['spawnTsx']>;

/**
 * Durable settings, as in production: with `ephemeral` (synchronous_commit=off) a commit is
 * acknowledged before its WAL is flushed, and this test saw an acknowledged row lost to the
 * immediate shutdown below.
 */
const startPostgres = () => startLocalPostgres({ dataDir: pgDir, port: pgPort, ephemeral: false });
const stopPostgres = () => stopLocalPostgres({ dataDir: pgDir });

/**
 * Immediate shutdown (`pg_ctl stop -m immediate`: SIGQUIT to the postmaster): every backend
 * exits at once without finishing its statement, as in a crash. A fast shutdown would let a
 * statement waiting on a lock win the race against its own termination when the lock holder
 * is terminated first. Resolves once the postmaster is gone; the next start recovers.
 */
async function stopPostgresImmediately(): Promise<void> {
  const pid = Number((await readFile(path.join(pgDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  process.kill(pid, 'SIGQUIT');
  await until(async () => {
    try {
      process.kill(pid, 0);
      return undefined;
    } catch {
      return true;
    }
  }, 'the postmaster to exit', 30_000);
}

beforeAll(async () => {
  // The server runs as the `postgres` OS user when we are root: it must be able to enter the directory.
  pgDir = await mkdtemp(path.join('/tmp', 'chaos-pg-'));
  await chmod(pgDir, 0o755);
  pgPort = await freeLoopbackPort();
  databaseUrl = await startPostgres();
  orm = await createOrm(databaseUrl);
  cluster = await ChaosCluster.start({ name: 'chaos-postgres-outage', database: { url: databaseUrl, orm } });
  apiPort = await freeLoopbackPort();
  headers = (await createTestProjectKey(orm)).headers;
  api = cluster.processes.spawnTsx('api', 'api/server.ts', { env: cluster.processEnv({ API_HOST: '127.0.0.1', API_PORT: String(apiPort) }) });
  await Promise.all([cluster.startWorker('cpu'), cluster.startWorker('gpu'), waitForPort(apiPort)]);
}, 180_000);

afterAll(async () => {
  await cluster?.dispose();
  await orm?.close(true);
  await stopPostgres().catch(() => undefined);
  await rm(pgDir, { recursive: true, force: true });
});

async function postFeedback(
  agentId: string,
  body: unknown,
  batch = false,
  idempotencyKey?: string,
): Promise<{ status: number; json: Record<string, unknown>; retryAfter: string | null }> {
  const response = await fetch(`http://127.0.0.1:${apiPort}/api/policies/feedback/${agentId}${batch ? '/batch' : ''}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json', ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown>, retryAfter: response.headers.get('retry-after') };
}

/**
 * A client posting one feedback row at a time until stopped, as a careful client does: each
 * logical write has its own Idempotency-Key and is retried (same key, same body) after a 503
 * or a lost answer until it is acknowledged, so every write must end up stored exactly once.
 */
function startWriter(agentId: string) {
  const acked: number[] = [];
  const answers = new Map<number, number>();
  let stop = false;
  let abandon = false;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      for (;;) {
        const { status } = await postFeedback(agentId, { prompt: `p${i}`, response: `r${i}`, score: i % 5, runId: 'writer' }, false, `writer-${i}`).catch(
          () => ({ status: 0, json: {} as Record<string, unknown> }),
        );
        answers.set(status, (answers.get(status) ?? 0) + 1);
        if (status === 201) {
          acked.push(i);
          break;
        }
        if (abandon) return;
        // An unfinished write is finished before stopping, so "acknowledged" covers every write started.
        await sleep(100);
      }
      await sleep(50);
    }
  })();
  /** `giveUp`: also abandon an unacknowledged write (a failed test must not wait for Postgres). */
  const stopWriting = async (giveUp = false) => {
    stop = true;
    abandon = giveUp;
    await done;
  };
  return { acked, answers, stop: stopWriting };
}

/** Progress lines for debugging a hang (CHAOS_ECHO=1). */
function trace(line: string): void {
  if (process.env.CHAOS_ECHO === '1') process.stderr.write(`[chaos 5] ${line}\n`);
}

/** True once a backend waits on a lock while running a statement that matches `pattern` (ILIKE). */
async function someoneWaits(db: Knex, pattern: string): Promise<true | undefined> {
  const { rows } = (await db.raw(`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query ilike ?`, [pattern])) as { rows: { n: number }[] };
  return rows[0].n > 0 ? true : undefined;
}

/** The attempt number of the run's pending activity `type`, if it is pending. */
async function pendingAttempt(run: StartedRun, type: string): Promise<number | undefined> {
  const { raw } = await run.handle.describe();
  const pending = raw.pendingActivities?.find((a) => a.activityType?.name === type);
  return pending?.attempt ?? undefined;
}

interface Outage {
  /** Statement that holds an activity's SQL up, run in an open transaction. */
  lockSql: string;
  bindings: string[];
  /** ILIKE pattern of the activity's statement once it waits behind the lock. */
  waitingPattern: string;
  activityType: string;
}

/**
 * Holds `lockSql` in an open transaction, runs `afterLock` (e.g. starts the run), waits until
 * the activity's statement is stuck behind the lock, then stops Postgres under it, checks the
 * API answers 503, waits until the activity has failed MIN_FAILED_ATTEMPTS times, and starts
 * Postgres again. Returns the run, the API's answer while down, the attempts and the outage length.
 */
async function outageDuring(o: Outage, afterLock: () => Promise<StartedRun>) {
  const holder = cluster.processes.spawnTsx('lock-holder', 'test/chaos/fixtures/hold-postgres-lock.ts', {
    env: { DATABASE_URL: databaseUrl, CHAOS_LOCK_SQL: o.lockSql, CHAOS_LOCK_BINDINGS: JSON.stringify(o.bindings) },
  });
  await holder.waitFor(/lock held/);
  const run = await afterLock();
  trace(`${o.activityType}: lock held, run started`);
  const db = knex({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 1 } });
  try {
    await until(() => someoneWaits(db, o.waitingPattern), `${o.activityType} to wait on the lock`);
  } finally {
    await db.destroy();
  }
  // The lock is held until the server dies under both sessions.
  await stopPostgresImmediately();
  await holder.kill9();
  trace(`${o.activityType}: postgres stopped`);
  const downAt = Date.now();
  const during = await postFeedback('agent-pg-probe', { prompt: 'p', response: 'r', score: 1, runId: 'probe' });
  trace(`${o.activityType}: API answered ${during.status} while down`);
  const attempts = await until(async () => {
    const attempt = await pendingAttempt(run, o.activityType);
    return attempt !== undefined && attempt > MIN_FAILED_ATTEMPTS ? attempt : undefined;
  }, `${o.activityType} to fail ${MIN_FAILED_ATTEMPTS} times`, 60_000);
  await startPostgres();
  trace(`${o.activityType}: postgres back after attempt ${attempts}`);
  return { run, during, attempts, downS: (Date.now() - downAt) / 1000 };
}

it('(5) Postgres stopped during load feedback and again during save policy: activities retry, the run completes with one version, the API answers 503 meanwhile and loses no acknowledged write', async () => {
  const agentId = 'agent-pg-outage';
  const rows = makeSyntheticFeedback(40, new Rng(5)).map((r) => ({ ...r, runId: 'seed' }));
  expect((await postFeedback(agentId, { items: rows }, true)).status).toBe(201);
  const writer = startWriter('agent-pg-writer');
  try {
    await checkOutages(agentId, writer);
  } finally {
    await writer.stop(true);
  }
});

async function checkOutages(agentId: string, writer: ReturnType<typeof startWriter>): Promise<void> {
  await until(async () => (writer.acked.length >= 3 ? true : undefined), 'the writer to get acknowledgements');

  // Stopped WHEN: loadFeedback's SELECT on the feedback table is running (held behind our table lock, taken before the run starts).
  const first = await outageDuring(
    { lockSql: 'lock table feedback in access exclusive mode', bindings: [], waitingPattern: 'select%from "feedback"%', activityType: 'loadFeedback' },
    () => cluster.startRun(agentId, tinyPatch(2, 2)),
  );
  const { run } = first;

  // Stopped WHEN: savePolicy waits for the agent's version lock (its files are copied, its row not yet written).
  const second = await outageDuring(
    { lockSql: 'select pg_advisory_xact_lock(hashtextextended(?, 0))', bindings: [`policy_version:${agentId}`], waitingPattern: '%pg_advisory_xact_lock%', activityType: 'savePolicy' },
    async () => run,
  );

  const result = (await run.handle.result()) as TrainPolicyResult;
  await until(async () => (writer.acked.length >= 3 + 3 ? true : undefined), 'the writer to get acknowledgements after the outages');
  await writer.stop();

  // CHECKED: the run completed with exactly one version; 503 with Retry-After while down; no acknowledged write lost.
  expect(result).toMatchObject({ status: 'trained', version: 'v1' });
  const versions = await new PolicyVersionRepository(orm.em.fork()).listByAgent(agentId);
  expect(versions.map((v) => [v.version, v.trainingRunId])).toEqual([['v1', run.runId]]);
  expect((await new TrainingRunRepository(orm.em.fork()).get(run.runId))?.status).toBe('completed');
  for (const outage of [first, second]) {
    expect(outage.during).toMatchObject({ status: 503, json: { error: 'service_unavailable' } });
    expect(outage.during.retryAfter).not.toBeNull();
  }
  // Exactly once: every acknowledged write is stored, none twice (retries after a 503 reuse the write's key).
  const stored = (await orm.em.fork().getConnection().execute<{ prompt: string }[]>(`select prompt from feedback where agent_id = 'agent-pg-writer' order by id`)).map((r) => r.prompt);
  expect(stored.slice().sort()).toEqual(writer.acked.map((i) => `p${i}`).sort());
  const statuses = Object.fromEntries(writer.answers);
  // Any other answer (a 500) is a database error the API did not recognise as an outage: show what it logged.
  const unexpected = api.output().split('\n').filter((line) => line.includes('"unhandled error"'));
  expect({ statuses: Object.keys(statuses).sort(), unexpected }).toEqual({ statuses: ['201', '503'], unexpected: [] });
  console.info(
    `[chaos 5] Postgres down ${first.downS.toFixed(1)} s during loadFeedback (attempt ${first.attempts} pending when it came back) and ` +
      `${second.downS.toFixed(1)} s during savePolicy (attempt ${second.attempts}); writer: ${writer.acked.length} writes acknowledged, each stored exactly once; answers ${JSON.stringify(statuses)}`,
  );
}
