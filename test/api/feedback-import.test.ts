/**
 * POST /api/policies/feedback/:agentId/import against a real Postgres: 1,000,000 rows streamed
 * over a real HTTP connection; a bad line in the middle keeps nothing (not even the agent's
 * claim); gzip; a client that disconnects mid-body leaves nothing behind; Idempotency-Key
 * replays; project scoping; the body-size, line-size and per-key rate limits.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { IMPORT_BATCH_ROWS } from '../../api/feedback-import';
import { loadEnv } from '../../common/env';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;
let app: FastifyInstance;
let base: string;
let auth: TestProjectKey;
let otherProject: TestProjectKey;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url }) }, false);
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  auth = await createTestProjectKey(db.orm);
  otherProject = await createTestProjectKey(db.orm);
});
afterAll(async () => {
  await app?.close();
  await db?.dispose();
});

const row = (i: number) => ({ prompt: `prompt ${i}\twith a tab`, response: `response ${i}\nwith a newline and a \\ backslash`, score: (i % 21) / 10 - 1, runId: `run-${i % 7}`, ...(i % 3 === 0 ? { notes: `note ${i}` } : {}) });
const line = (i: number) => `${JSON.stringify(row(i))}\n`;
const ndjson = (n: number, bad?: { at: number; text: string }) =>
  Array.from({ length: n }, (_, k) => (bad && k + 1 === bad.at ? `${bad.text}\n` : line(k + 1))).join('');

const NDJSON = { 'content-type': 'application/x-ndjson' };

function importUrl(agentId: string): string {
  return `/api/policies/feedback/${agentId}/import`;
}

async function rowCount(agentId: string): Promise<number> {
  const [r] = await db.orm.em.fork().getConnection().execute<{ n: number }[]>('select count(*)::int as n from feedback where agent_id = ?', [agentId]);
  return r.n;
}

async function agentExists(agentId: string): Promise<boolean> {
  const [r] = await db.orm.em.fork().getConnection().execute<{ n: number }[]>('select count(*)::int as n from agent where id = ?', [agentId]);
  return r.n > 0;
}

/** POSTs the chunks over a real connection, honouring backpressure; resolves with the answer. */
function postStream(path: string, headers: Record<string, string>, chunks: Iterable<Buffer | string>): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method: 'POST', headers: { ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    const it = chunks[Symbol.iterator]();
    const pump = () => {
      for (;;) {
        const next = it.next();
        if (next.done) return void req.end();
        if (!req.write(next.value)) return void req.once('drain', pump);
      }
    };
    pump();
  });
}

/** 1,000 lines per chunk, made as they are sent (the test never holds the whole body either). */
function* lineChunks(n: number): Generator<string> {
  for (let i = 1; i <= n; i += 1000) {
    let s = '';
    for (let k = i; k < Math.min(i + 1000, n + 1); k++) s += line(k);
    yield s;
  }
}

it('imports 1,000,000 rows streamed over HTTP in order, with every field stored verbatim', async () => {
  const n = 1_000_000;
  const res = await postStream(importUrl('agent-million'), { ...auth.headers, ...NDJSON }, lineChunks(n));
  expect(res.status).toBe(201);
  expect(JSON.parse(res.body)).toEqual({ imported: n });
  expect(await rowCount('agent-million')).toBe(n);
  const ends = await db.orm.em.fork().getConnection().execute<{ prompt: string; response: string; score: number; run_id: string; notes: string | null; project_id: string }[]>(
    `(select prompt, response, score, run_id, notes, project_id from feedback where agent_id = 'agent-million' order by id limit 3)
     union all (select prompt, response, score, run_id, notes, project_id from feedback where agent_id = 'agent-million' order by id desc limit 1)`,
  );
  for (const [r, i] of [[ends[0], 1], [ends[1], 2], [ends[2], 3], [ends[3], n]] as const) {
    const want = row(i);
    expect({ prompt: r.prompt, response: r.response, score: r.score, runId: r.run_id, notes: r.notes ?? undefined, projectId: r.project_id }).toEqual({
      ...want,
      notes: 'notes' in want ? want.notes : undefined,
      projectId: auth.projectId,
    });
  }
}, 300_000);

it('refuses a bad line in the middle with 400 naming the line and field, keeping nothing (rows of earlier COPY batches, the agent claim)', async () => {
  const at = IMPORT_BATCH_ROWS * 2 + 17;
  const body = ndjson(IMPORT_BATCH_ROWS * 3, { at, text: JSON.stringify({ ...row(at), score: 'high' }) });
  const res = await app.inject({ method: 'POST', url: importUrl('agent-bad-line'), headers: { ...auth.headers, ...NDJSON }, payload: body });
  expect(res.statusCode).toBe(400);
  expect(res.json()).toMatchObject({ error: 'validation_error', line: at, field: 'score' });
  expect(res.json().message).toContain(`line ${at}`);
  expect(await rowCount('agent-bad-line')).toBe(0);
  expect(await agentExists('agent-bad-line')).toBe(false);
});

it.each([
  ['not JSON', '{"prompt": "p",', 'invalid_json', undefined],
  ['a field not in the schema', JSON.stringify({ ...row(1), extra: 1 }), 'validation_error', 'extra'],
  ['a missing field', JSON.stringify({ prompt: 'p', response: 'r', score: 1 }), 'validation_error', 'runId'],
  ['text Postgres cannot store', JSON.stringify({ ...row(1), prompt: 'a\u0000b' }), 'validation_error', 'prompt'],
  ['not an object', '[1, 2]', 'validation_error', undefined],
])('refuses a line that is %s with its line number, keeping nothing', async (_what, text, error, field) => {
  const agentId = `agent-bad-${error}-${field ?? 'none'}`;
  const res = await app.inject({ method: 'POST', url: importUrl(agentId), headers: { ...auth.headers, ...NDJSON }, payload: ndjson(5, { at: 4, text }) });
  expect(res.statusCode).toBe(400);
  expect(res.json()).toMatchObject({ error, line: 4, ...(field ? { field } : {}) });
  expect(await rowCount(agentId)).toBe(0);
});

it('counts blank lines and CRLF endings like the client\'s editor does', async () => {
  const body = `${line(1)}\r\n${line(2).trimEnd()}\r\n${JSON.stringify({ ...row(3), bad: true })}\n`;
  const res = await app.inject({ method: 'POST', url: importUrl('agent-crlf'), headers: { ...auth.headers, ...NDJSON }, payload: body });
  expect(res.json()).toMatchObject({ line: 4, field: 'bad' });
  const ok = await app.inject({ method: 'POST', url: importUrl('agent-crlf'), headers: { ...auth.headers, ...NDJSON }, payload: `${line(1)}\r\n\n${line(2).trimEnd()}\r\n` });
  expect(ok.statusCode).toBe(201);
  expect(ok.json()).toEqual({ imported: 2 });
});

it('imports a gzip body, and refuses a corrupt one and unknown codings', async () => {
  const body = gzipSync(ndjson(12_345));
  const res = await app.inject({ method: 'POST', url: importUrl('agent-gzip'), headers: { ...auth.headers, ...NDJSON, 'content-encoding': 'gzip' }, payload: body });
  expect(res.statusCode).toBe(201);
  expect(res.json()).toEqual({ imported: 12_345 });
  expect(await rowCount('agent-gzip')).toBe(12_345);

  const truncated = await app.inject({ method: 'POST', url: importUrl('agent-gzip-bad'), headers: { ...auth.headers, ...NDJSON, 'content-encoding': 'gzip' }, payload: body.subarray(0, body.length / 2) });
  expect(truncated.statusCode).toBe(400);
  expect(truncated.json()).toMatchObject({ error: 'invalid_gzip', field: 'content-encoding' });
  const br = await app.inject({ method: 'POST', url: importUrl('agent-gzip-bad'), headers: { ...auth.headers, ...NDJSON, 'content-encoding': 'br' }, payload: body });
  expect(br.statusCode).toBe(415);
  expect(br.json()).toMatchObject({ error: 'unsupported_media_type', field: 'content-encoding' });
  expect(await rowCount('agent-gzip-bad')).toBe(0);
  expect(await agentExists('agent-gzip-bad')).toBe(false);
});

it('refuses other media types with 415 before reading the body', async () => {
  const res = await app.inject({ method: 'POST', url: importUrl('agent-json'), headers: auth.headers, payload: { items: [row(1)] } });
  expect(res.statusCode).toBe(415);
  expect(res.json()).toMatchObject({ error: 'unsupported_media_type', field: 'content-type' });
});

it('refuses an empty body', async () => {
  const res = await app.inject({ method: 'POST', url: importUrl('agent-empty'), headers: { ...auth.headers, ...NDJSON }, payload: '\n\n' });
  expect(res.statusCode).toBe(400);
  expect(res.json()).toMatchObject({ error: 'empty_import' });
  expect(await agentExists('agent-empty')).toBe(false);
});

it('refuses a line longer than 1 MiB without buffering the rest', async () => {
  const long = JSON.stringify({ ...row(1), prompt: 'x'.repeat(1024 * 1024 + 10) });
  const res = await app.inject({ method: 'POST', url: importUrl('agent-long'), headers: { ...auth.headers, ...NDJSON }, payload: `${line(1)}${long}\n` });
  expect(res.statusCode).toBe(400);
  expect(res.json()).toMatchObject({ error: 'line_too_long', line: 2 });
  expect(await rowCount('agent-long')).toBe(0);
});

/** Backends of the test database inside a transaction that ran a COPY: an import in flight. */
async function importsInFlight(): Promise<number> {
  const [r] = await db.orm.em.fork().getConnection().execute<{ n: number }[]>(
    `select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()
       and state in ('active', 'idle in transaction', 'idle in transaction (aborted)') and query ilike 'copy feedback%'`,
  );
  return r.n;
}

async function waitFor(what: string, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('keeps nothing when the client disconnects mid-body, after COPY batches already ran', async () => {
  const req = http.request(`${base}${importUrl('agent-disconnect')}`, { method: 'POST', headers: { ...auth.headers, ...NDJSON } });
  req.on('error', () => undefined);
  req.write(ndjson(IMPORT_BATCH_ROWS * 2 + 100));
  // The server is mid-import: its transaction has run a COPY and waits for more body.
  await waitFor('a COPY in the open import transaction', async () => (await importsInFlight()) > 0);
  req.destroy();
  await waitFor('the import transaction to end', async () => (await importsInFlight()) === 0);
  expect(await rowCount('agent-disconnect')).toBe(0);
  expect(await agentExists('agent-disconnect')).toBe(false);
  // The server carries on: the connection went back to the pool in a usable state.
  const after = await app.inject({ method: 'POST', url: importUrl('agent-disconnect'), headers: { ...auth.headers, ...NDJSON }, payload: ndjson(3) });
  expect(after.statusCode).toBe(201);
});

describe('Idempotency-Key', () => {
  const send = (agentId: string, body: string | Buffer, key: string, extra: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: importUrl(agentId), headers: { ...auth.headers, ...NDJSON, 'idempotency-key': key, ...extra }, payload: body });

  it('replays a retried import without writing again, also when the retry is gzip-encoded', async () => {
    const body = ndjson(7_000);
    const first = await send('agent-idem-import', body, 'import-key-1');
    const retry = await send('agent-idem-import', body, 'import-key-1');
    const gzipped = await send('agent-idem-import', gzipSync(body), 'import-key-1', { 'content-encoding': 'gzip' });
    expect([first.statusCode, retry.statusCode, gzipped.statusCode]).toEqual([201, 201, 201]);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(gzipped.headers['idempotent-replayed']).toBe('true');
    expect(retry.json()).toEqual(first.json());
    expect(await rowCount('agent-idem-import')).toBe(7_000);
  });

  it('refuses the key for another body with 422, writing nothing', async () => {
    expect((await send('agent-idem-import-2', ndjson(3), 'import-key-2')).statusCode).toBe(201);
    const other = await send('agent-idem-import-2', ndjson(4), 'import-key-2');
    expect(other.statusCode).toBe(422);
    expect(other.json()).toMatchObject({ error: 'idempotency_key_reused' });
    expect(await rowCount('agent-idem-import-2')).toBe(3);
  });

  it('does not store a refused import: the retry with the fixed file runs', async () => {
    expect((await send('agent-idem-import-3', ndjson(3, { at: 2, text: '{}' }), 'import-key-3')).statusCode).toBe(400);
    const fixed = await send('agent-idem-import-3', ndjson(3), 'import-key-3');
    expect(fixed.statusCode).toBe(201);
    expect(fixed.headers['idempotent-replayed']).toBeUndefined();
    expect(await rowCount('agent-idem-import-3')).toBe(3);
  });
});

it('answers 404 for another project\'s agent, writing nothing', async () => {
  const mine = await app.inject({ method: 'POST', url: importUrl('agent-owned-elsewhere'), headers: { ...otherProject.headers, ...NDJSON }, payload: ndjson(2) });
  expect(mine.statusCode).toBe(201);
  const theirs = await app.inject({ method: 'POST', url: importUrl('agent-owned-elsewhere'), headers: { ...auth.headers, ...NDJSON }, payload: ndjson(5) });
  expect(theirs.statusCode).toBe(404);
  expect(theirs.json()).toMatchObject({ error: 'not_found', field: 'agentId' });
  expect(await rowCount('agent-owned-elsewhere')).toBe(2);
});

describe('limits', () => {
  let limited: FastifyInstance;
  beforeAll(async () => {
    const env = loadEnv({ ...process.env, DATABASE_URL: db.url, IMPORT_MAX_BYTES: '50000', BULK_RATE_LIMIT_MAX: '3' });
    limited = await buildApp({ env }, false);
  });
  afterAll(() => limited?.close());

  it('refuses a body over IMPORT_MAX_BYTES with 413, by Content-Length or once streamed past it, keeping nothing', async () => {
    const big = ndjson(1000); // about 130 kB
    const declared = await limited.inject({ method: 'POST', url: importUrl('agent-big'), headers: { ...auth.headers, ...NDJSON }, payload: big });
    expect(declared.statusCode).toBe(413);
    const gzipped = await limited.inject({ method: 'POST', url: importUrl('agent-big'), headers: { ...auth.headers, ...NDJSON, 'content-encoding': 'gzip' }, payload: gzipSync(big) });
    expect(gzipSync(big).length).toBeLessThan(50_000);
    expect(gzipped.statusCode).toBe(413);
    expect(gzipped.json()).toMatchObject({ error: 'payload_too_large' });
    expect(await rowCount('agent-big')).toBe(0);
    expect(await agentExists('agent-big')).toBe(false);
  });

  it('allows BULK_RATE_LIMIT_MAX imports per key per window, then 429, counted apart from the other routes', async () => {
    const fresh = await createTestProjectKey(db.orm);
    const answers: number[] = [];
    for (let i = 0; i < 4; i++) answers.push((await limited.inject({ method: 'POST', url: importUrl('agent-rate'), headers: { ...fresh.headers, ...NDJSON }, payload: ndjson(1) })).statusCode);
    expect(answers).toEqual([201, 201, 201, 429]);
    const single = await limited.inject({ method: 'POST', url: '/api/policies/feedback/agent-rate', headers: fresh.headers, payload: row(1) });
    expect(single.statusCode).toBe(201);
    const otherKey = await limited.inject({ method: 'POST', url: importUrl('agent-rate-2'), headers: { ...otherProject.headers, ...NDJSON }, payload: ndjson(1) });
    expect(otherKey.statusCode).toBe(201);
  });
});

it('documents the NDJSON body and answer, and every status, in the OpenAPI document', async () => {
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
  const imp = doc.paths['/api/policies/feedback/{agentId}/import'].post;
  expect(Object.keys(imp.requestBody.content)).toEqual(['application/x-ndjson']);
  expect(imp.requestBody.content['application/x-ndjson'].schema.required).toEqual(['prompt', 'response', 'score', 'runId']);
  expect(Object.keys(imp.responses).sort()).toEqual(['201', '400', '401', '404', '413', '415', '422', '429', '500', '503']);
  expect(imp.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['agentId', 'content-encoding', 'idempotency-key']);
  const exp = doc.paths['/api/policies/feedback/{agentId}/export'].get;
  expect(Object.keys(exp.responses['200'].content)).toEqual(['application/x-ndjson']);
  expect(exp.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['agentId', 'cursor']);
});
