/**
 * GET /api/policies/feedback/:agentId/export against a real Postgres: 1,000,000 rows streamed
 * over a real HTTP connection in id order while the server's resident memory stays within a
 * generous bound far below the answer's size (the server never holds the export); the list's
 * cursor starts it after a row; project scoping and bad cursors answer before any byte streams.
 * The memory check runs the API as its own process (api/server.ts, as operators run it) and reads
 * its VmRSS from /proc: a jest worker's own memory depends on the test files it ran before.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { freeLoopbackPort } from '../helpers/browser';
import { ProcessGroup, waitForPort } from '../helpers/processes';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;
let app: FastifyInstance;
let auth: TestProjectKey;
let otherProject: TestProjectKey;

const ROWS = Number(process.env.EXPORT_TEST_ROWS ?? 1_000_000);
const AGENT = 'agent-export';
/** Growth of the server process's resident memory allowed while streaming: generous, yet under half the answer's size. */
const RSS_GROWTH_BOUND = 192 * 1024 * 1024;
/** The API process's V8 old-space cap in the memory test (MiB): under a third of the answer's size. */
const HEAP_CAP_MB = 128;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url }) }, { level: 'error' });
  auth = await createTestProjectKey(db.orm);
  otherProject = await createTestProjectKey(db.orm);
  const conn = db.orm.em.fork().getConnection();
  await conn.execute('insert into agent (id, project_id, created_at) values (?, ?, now())', [AGENT, auth.projectId]);
  // About 400 bytes of NDJSON per row, so the whole answer (~400 MB) dwarfs the memory bound.
  await conn.execute(
    `insert into feedback (project_id, agent_id, run_id, prompt, response, score, notes, created_at)
     select ?, ?, 'run-' || (i % 7), 'prompt ' || i || ' ' || repeat('p', 200), 'response ' || i || E'\\n' || repeat('r', 100),
            (i % 21) / 10.0 - 1, case when i % 3 = 0 then 'note ' || i end, now()
     from generate_series(1, ${ROWS}) as i`,
    [auth.projectId, AGENT],
  );
  // As the import route (and, later, autovacuum) does after a bulk load.
  await conn.execute('analyze feedback');
}, 300_000);
afterAll(async () => {
  await app?.close();
  await db?.dispose();
});

const exportUrl = (agentId: string, query = '') => `/api/policies/feedback/${agentId}/export${query}`;

interface ExportScan {
  status: number;
  contentType: string | undefined;
  lines: number;
  bytes: number;
  /** Every id was greater than the one before. */
  ascending: boolean;
  first: Record<string, unknown> | null;
  last: Record<string, unknown> | null;
}

/**
 * The client, run as a separate Node process so that this process's resident memory is the
 * server's alone. It checks the answer line by line without keeping it (only the first and last
 * lines are parsed whole; the others give their id, each line starting {"id":"<digits>").
 */
const CLIENT = `
const http = require('node:http');
const [url, authorization] = process.argv.slice(1);
const scan = { status: 0, contentType: undefined, lines: 0, bytes: 0, ascending: true, first: null, last: null };
let carry = '', lastLine = '', previous = BigInt(0);
const at = '{"id":"'.length;
const onLine = (text) => {
  const id = BigInt(text.slice(at, text.indexOf('"', at)));
  if (id <= previous) scan.ascending = false;
  previous = id;
  if (scan.first === null) scan.first = JSON.parse(text);
  lastLine = text;
  scan.lines++;
};
http.get(url, { headers: { authorization } }, (res) => {
  scan.status = res.statusCode;
  scan.contentType = res.headers['content-type'];
  res.setEncoding('utf8');
  res.on('data', (chunk) => {
    scan.bytes += Buffer.byteLength(chunk);
    const parts = (carry + chunk).split('\\n');
    carry = parts.pop();
    for (const p of parts) onLine(p);
  });
  res.on('end', () => {
    if (carry !== '') onLine(carry);
    if (lastLine !== '') scan.last = JSON.parse(lastLine);
    process.stdout.write(JSON.stringify(scan));
  });
});
`;

/** Resident memory of process `pid` in bytes (Linux /proc/<pid>/status VmRSS). */
async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!kb) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb[1]) * 1024;
}

/** Streams the export of `serverBase` to the client process while sampling the server process's RSS. */
async function scanExport(serverBase: string, path: string, headers: { authorization: string }, serverPid: number): Promise<{ scan: ExportScan; maxRssGrowth: number }> {
  const rssAtStart = await residentBytes(serverPid);
  let maxRss = rssAtStart;
  let sampling = Promise.resolve();
  const sampler = setInterval(() => {
    sampling = sampling.then(async () => void (maxRss = Math.max(maxRss, await residentBytes(serverPid))));
  }, 10);
  try {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['-e', CLIENT, `${serverBase}${path}`, headers.authorization], { maxBuffer: 16 * 2 ** 20, timeout: 280_000 }, (err, out, stderr) =>
        err ? reject(new Error(`export client failed: ${err.message}\n${stderr}`)) : resolve(out),
      );
    });
    return { scan: JSON.parse(stdout) as ExportScan, maxRssGrowth: maxRss - rssAtStart };
  } finally {
    clearInterval(sampler);
    await sampling;
  }
}

it('streams 1,000,000 rows as NDJSON in id order while the server\'s memory stays bounded', async () => {
  const processes = new ProcessGroup();
  try {
    // The API as its own process; `node --import tsx` so that the pid is the server's (tsx's CLI would run it in a child).
    // Its V8 heap is capped far below the answer's size: a server that held the export would die of it, and the
    // cap keeps V8 from deferring collection of the streamed pages (its default heap lets garbage pile up to GBs).
    const port = await freeLoopbackPort();
    const server = processes.spawn('api', process.execPath, [`--max-old-space-size=${HEAP_CAP_MB}`, '--import', 'tsx', 'api/server.ts'], {
      env: { DATABASE_URL: db.url, API_HOST: '127.0.0.1', API_PORT: String(port), LOG_LEVEL: 'error' },
    });
    await waitForPort(port, 120_000);
    const serverBase = `http://127.0.0.1:${port}`;
    // One small request first, so that the baseline includes a warmed-up route.
    expect((await fetch(`${serverBase}${exportUrl(AGENT, '?cursor=999999999')}`, { headers: auth.headers })).status).toBe(200);
    await checkExport(await scanExport(serverBase, exportUrl(AGENT), auth.headers, server.pid));
  } finally {
    await processes.stopAll();
  }
}, 300_000);

async function checkExport({ scan, maxRssGrowth }: { scan: ExportScan; maxRssGrowth: number }): Promise<void> {
  expect(scan.status).toBe(200);
  expect(scan.contentType).toMatch(/^application\/x-ndjson/);
  expect(scan.lines).toBe(ROWS);
  expect(scan.ascending).toBe(true);
  expect(scan.first).toMatchObject({ agentId: AGENT, projectId: auth.projectId, runId: 'run-1', response: `response 1\n${'r'.repeat(100)}`, score: -0.9, notes: null });
  expect(scan.last).toMatchObject({ prompt: `prompt ${ROWS} ${'p'.repeat(200)}`, notes: null });
  expect(typeof scan.first?.createdAt).toBe('string');
  // The bound means something only if the answer is far larger than it.
  expect(scan.bytes).toBeGreaterThan(2 * RSS_GROWTH_BOUND);
  console.info(`[export] ${scan.lines} lines, ${(scan.bytes / 2 ** 20).toFixed(0)} MiB streamed; server RSS grew ${(maxRssGrowth / 2 ** 20).toFixed(0)} MiB at most (bound ${RSS_GROWTH_BOUND / 2 ** 20} MiB, heap cap ${HEAP_CAP_MB} MiB)`);
  expect(maxRssGrowth).toBeLessThan(RSS_GROWTH_BOUND);
}

it('starts after the row a cursor of the paginated list names', async () => {
  const items = Array.from({ length: 10 }, (_, i) => ({ prompt: `p${i}`, response: 'r', score: i, runId: 'run-1' }));
  expect((await app.inject({ method: 'POST', url: '/api/policies/feedback/agent-export-small/batch', headers: auth.headers, payload: { items } })).statusCode).toBe(201);
  const page = await app.inject({ method: 'GET', url: '/api/policies/feedback/agent-export-small?limit=3', headers: auth.headers });
  const { items: firstThree, nextCursor } = page.json();
  const all = await app.inject({ method: 'GET', url: exportUrl('agent-export-small'), headers: auth.headers });
  const rest = await app.inject({ method: 'GET', url: exportUrl('agent-export-small', `?cursor=${nextCursor}`), headers: auth.headers });
  expect([all.statusCode, rest.statusCode]).toEqual([200, 200]);
  const lines = (payload: string) => payload.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  expect(lines(all.payload).slice(0, 3)).toEqual(firstThree);
  expect(lines(rest.payload)).toEqual(lines(all.payload).slice(3));
  expect(lines(rest.payload).map((r) => r.prompt)).toEqual(['p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
});

it('answers an empty 200 for an owned agent without rows', async () => {
  await db.orm.em.fork().getConnection().execute('insert into agent (id, project_id, created_at) values (?, ?, now())', ['agent-export-empty', auth.projectId]);
  const res = await app.inject({ method: 'GET', url: exportUrl('agent-export-empty'), headers: auth.headers });
  expect(res.statusCode).toBe(200);
  expect(res.payload).toBe('');
});

it.each([
  ['another project\'s agent', AGENT, () => otherProject.headers, 404, 'not_found', 'agentId'],
  ['an unknown agent', 'agent-export-unknown', () => auth.headers, 404, 'not_found', 'agentId'],
  ['a cursor that is not a row id', AGENT, () => auth.headers, 400, 'validation_error', 'cursor'],
])('refuses %s before streaming', async (what, agentId, headers, status, error, field) => {
  const cursor = what.includes('cursor') ? `?cursor=${Buffer.from(JSON.stringify({ a: 'someone-else', i: '1' })).toString('base64url')}` : '';
  // A cursor is the decimal id of a row (db/repositories/feedback-repository.ts): anything else is refused by the schema.
  const res = await app.inject({ method: 'GET', url: exportUrl(agentId, cursor), headers: headers() });
  expect(res.statusCode).toBe(status);
  expect(res.json()).toMatchObject({ error, field });
});
