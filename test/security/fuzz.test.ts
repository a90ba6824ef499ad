/**
 * Property-based fuzzing of every route through app.inject (fast-check, fixed seeds, bounded
 * runs): generated ids, query strings, bodies (random JSON, mutated valid bodies, broken
 * JSON, odd content types) and headers (no key, bad keys, another project's key, junk
 * headers). For every case: no 5xx, no stack trace or file path in the response, and a
 * rejected (4xx) request writes no row. Then SQL-injection strings and odd Unicode are
 * stored and read back verbatim, and text Postgres cannot hold verbatim (NUL, lone
 * surrogates) is refused with 400 before anything is written.
 */
import fc from 'fast-check';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { countRows } from './row-counts';
import { PROTECTED_ROUTES, PUBLIC_PATHS, type RouteIds } from './routes';

/** Fuzz cases per property; the total is reported by the last test's title. */
const ROUTE_CASES = 800;
const MUTATION_CASES = 500;
const ROUND_TRIP_CASES = 120;

let db: TestDatabase;
let app: FastifyInstance;
let owner: TestProjectKey;
let stranger: TestProjectKey;
let ids: RouteIds;
const startedWorkflows = new Set<string>();
/** Status counts seen by the generated requests: proof that the cases reach past validation. */
const statusesSeen = new Map<number, number>();

beforeAll(async () => {
  db = await createTestDatabase();
  // FUZZ_LOG=1 logs the app's errors (which request made a 5xx, and why).
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url }) }, process.env.FUZZ_LOG === '1' ? { level: 'error' } : false);
  owner = await createTestProjectKey(db.orm);
  stranger = await createTestProjectKey(db.orm);
  const items = Array.from({ length: 10 }, (_, i) => ({ prompt: `p${i}`, response: 'r', score: i, runId: 'rt-1' }));
  expect((await app.inject({ method: 'POST', url: '/api/policies/feedback/fuzz-agent/batch', payload: { items }, headers: owner.headers })).statusCode).toBe(201);
  const run = await app.inject({ method: 'POST', url: '/api/policies/train_policy/fuzz-agent', payload: { maxSteps: 1 }, headers: owner.headers });
  expect(run.statusCode).toBe(202);
  startedWorkflows.add(run.json().workflowId);
  ids = { agentId: 'fuzz-agent', runId: run.json().runId };
});
afterAll(async () => {
  for (const id of startedWorkflows) await app?.temporal.workflow.getHandle(id).terminate('fuzz cleanup').catch(() => undefined);
  await app?.close();
  await db?.dispose();
});

/** A stack frame, a source path or a Node internal in a response body. */
const LEAK_RE = /\bat [^\n]*\(?[^\s()]+:\d+:\d+\)?|node_modules|\/work\/|[\w/.-]+\.(?:ts|js):\d+|Error: |\bknex\b|\bselect\b.*\bfrom\b/i;

interface CaseOutcome {
  status: number;
  body: string;
}

async function send(request: InjectOptions): Promise<CaseOutcome> {
  const res = await app.inject(request);
  const body = res.payload;
  statusesSeen.set(res.statusCode, (statusesSeen.get(res.statusCode) ?? 0) + 1);
  if (res.statusCode === 202 && typeof res.json().workflowId === 'string') startedWorkflows.add(res.json().workflowId);
  return { status: res.statusCode, body };
}

/** Sends the request and checks the three invariants; returns false (a counterexample) on any breach. */
async function holdsInvariants(request: InjectOptions): Promise<boolean> {
  const before = await countRows(db.orm);
  const { status, body } = await send(request);
  if (status >= 500) throw new Error(`5xx: ${status} ${body}`);
  if (status >= 400) {
    // Error bodies only: a 200 page may legitimately echo stored text that looks like anything.
    if (LEAK_RE.test(body)) throw new Error(`leak in ${status} body: ${body.slice(0, 300)}`);
    const after = await countRows(db.orm);
    if (JSON.stringify(after) !== JSON.stringify(before)) throw new Error(`rejected ${status} wrote rows: ${JSON.stringify({ before, after })}`);
  }
  return true;
}

const printable = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });
const anyText = fc.string({ unit: 'binary', maxLength: 40 });
/** Text made of the characters storage chokes on (NUL, lone surrogate halves) among ordinary ones. */
const trickyText = fc.array(fc.constantFrom('a', ' ', '\u0000', '\uD83D', '\uDE00', '😀', 'e\u0301', '\u202E', "'", '\\'), { minLength: 1, maxLength: 8 }).map((parts) => parts.join(''));

const idArb = (valid: () => string) =>
  fc.oneof(
    fc.constant(null).map(() => valid()),
    fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/),
    anyText.map((s) => encodeURIComponent(s)),
    fc.constantFrom('..%2F..%2Fetc', '%00', '%EF%BC%8E%EF%BC%8E', 'a%5Cb', 'run_' + 'x'.repeat(20)),
  );

const authArb = fc.oneof(
  fc.constant(null).map(() => owner.headers.authorization),
  fc.constant(null).map(() => stranger.headers.authorization),
  fc.constant(undefined),
  printable.map((s) => `Bearer ${s}`),
  fc.constant(null).map(() => `Bearer ${owner.key.slice(0, -1)}`),
);

const contentTypeArb = fc.constantFrom(undefined, 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16');

/** Header names and values a real HTTP client could send (token chars; visible ASCII). */
const junkHeadersArb = fc.dictionary(fc.stringMatching(/^x-[a-z0-9-]{1,12}$/), fc.stringMatching(/^[\x20-\x7e]{0,40}$/), { maxKeys: 3 });

const queryArb = fc.dictionary(fc.constantFrom('limit', 'cursor', 'x', 'dryRun', '__proto__', 'constructor'), anyText, { maxKeys: 3 }).map((q) =>
  Object.entries(q)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join('&'),
);

const bodyArb = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.record({ items: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }) }).map((v) => JSON.stringify(v)),
  anyText,
  fc.constantFrom('{"prompt":', '{"__proto__":{"isAdmin":true}}', '{"constructor":{"prototype":{"x":1}}}', '[]', 'null', '{"score":1e999}', '\u0000'),
);

describe('fuzzing every route (seeded)', () => {
  it(`${ROUTE_CASES} generated requests: no 5xx, no stack trace, no row from a rejected request`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...PROTECTED_ROUTES),
        idArb(() => ids.agentId),
        idArb(() => ids.runId),
        queryArb,
        fc.option(bodyArb, { nil: undefined }),
        authArb,
        contentTypeArb,
        junkHeadersArb,
        async (route, agentId, runId, query, body, authorization, contentType, junk) => {
          const base = route.request({ agentId, runId });
          const url = query ? `${base.url}${String(base.url).includes('?') ? '&' : '?'}${query}` : String(base.url);
          const headers: Record<string, string> = { ...junk };
          if (authorization !== undefined) headers.authorization = authorization;
          if (contentType !== undefined && (route.method === 'POST' || route.method === 'PUT')) headers['content-type'] = contentType;
          return holdsInvariants({ method: route.method, url, headers, ...(route.method === 'POST' || route.method === 'PUT' ? { payload: body ?? JSON.stringify(base.payload) } : {}) });
        },
      ),
      { seed: 5_2026_1125, numRuns: ROUTE_CASES },
    );
  });

  it(`${MUTATION_CASES} valid bodies with one field replaced or added, sent with the owner's key`, async () => {
    const field = fc.constantFrom('prompt', 'response', 'score', 'runId', 'notes', 'projectId', 'items', 'dryRun', 'maxSteps', 'learningRate', 'preset', 'coef', 'target', 'baseModelDir', '__proto__');
    const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), anyText, trickyText, fc.double(), fc.constantFrom('', '../../etc', 'x'.repeat(40_000), -1, 0, 1e308, true, null));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...PROTECTED_ROUTES.filter((r) => r.method === 'POST' || r.method === 'PUT')), field, value, async (route, key, v) => {
        const base = route.request(ids);
        const payload = { ...(base.payload as Record<string, unknown>) };
        if (key === 'items' || !('items' in payload)) payload[key] = v;
        else payload.items = [{ ...(payload.items as Record<string, unknown>[])[0], [key]: v }];
        return holdsInvariants({ ...base, payload: JSON.stringify(payload), headers: { ...owner.headers, 'content-type': 'application/json' } });
      }),
      { seed: 5_2026_1126, numRuns: MUTATION_CASES },
    );
  });

  it('the generated requests reached every outcome: accepted, invalid, unauthorised, not found', () => {
    for (const status of [200, 201, 202, 400, 401, 404]) expect({ status, seen: (statusesSeen.get(status) ?? 0) > 0 }).toEqual({ status, seen: true });
    console.log(`fuzz statuses: ${JSON.stringify(Object.fromEntries([...statusesSeen].sort((a, b) => a[0] - b[0])))}`);
  });

  it('the public routes hold the same invariants without a key', async () => {
    for (const p of [...PUBLIC_PATHS, '/docs/json', '/docs', '/docs/static/index.html']) await holdsInvariants({ method: 'GET', url: p });
  });
});

describe('text is stored and read back verbatim', () => {
  const SQL_INJECTION = [
    "'; drop table feedback; --",
    "1' or '1'='1",
    "' union select key_hash, prefix from api_key --",
    "\\'; select pg_sleep(5); --",
    '$$; delete from agent; $$',
    "E'\\\\x00'",
    '$1 ? %s :name {{x}}',
    "Robert'); DROP TABLE project;--",
  ];
  const ODD_UNICODE = [
    '👩‍👩‍👧‍👦 🏳️‍🌈 🇺🇦', // ZWJ sequences and flags (astral, surrogate pairs)
    'שלום עולם مرحبا بالعالم', // RTL scripts
    'abc\u202Eevil\u202Cdef \u200F\u200E', // bidi overrides and marks
    'Z\u0364\u0351\u0313a\u0308\u0347\u0316l\u036E\u0312g\u030C\u0317o\u0319\u0314', // stacked combining marks
    'e\u0301 vs \u00E9', // NFD and NFC forms stay distinct
    '\uFEFF\u200B\u200C\u200D\u2028\u2029', // BOM, zero-width chars, line/paragraph separators
    '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \uFFFF \uFFFD', // mathematical letters, a noncharacter, the replacement char
    '\u0001\u0007\u001B[31mred\u001B[0m\t\r\n', // C0 controls other than NUL, ANSI escapes
    'ＡＢＣ ﬁ Ⅻ K Å', // compatibility forms NFKC would fold
  ];

  async function roundTrip(agentId: string, texts: string[]): Promise<string[][]> {
    const items = texts.map((t) => ({ prompt: t || '-', response: t, notes: t, score: 0, runId: 'rt-verbatim' }));
    const res = await app.inject({ method: 'POST', url: `/api/policies/feedback/${agentId}/batch`, payload: { items }, headers: owner.headers });
    expect(res.statusCode).toBe(201);
    const ids = new Set<string>(res.json().ids);
    const page = await app.inject({ method: 'GET', url: `/api/policies/feedback/${agentId}?limit=200`, headers: owner.headers });
    return page
      .json()
      .items.filter((f: { id: string }) => ids.has(f.id))
      .map((f: { prompt: string; response: string; notes: string }) => [f.prompt, f.response, f.notes]);
  }

  it('SQL-injection strings and odd Unicode, exactly as sent; every table still there', async () => {
    const texts = [...SQL_INJECTION, ...ODD_UNICODE];
    expect(await roundTrip('verbatim-agent', texts)).toEqual(texts.map((t) => [t, t, t]));
    const counts = await countRows(db.orm);
    expect(counts.project).toBeGreaterThanOrEqual(2);
    expect(counts.api_key).toBeGreaterThanOrEqual(2);
  });

  it(`${ROUND_TRIP_CASES} generated well-formed strings round-trip (seeded)`, async () => {
    const storable = fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }).filter((s) => !s.includes('\u0000') && /^[^\uD800-\uDFFF]*$/u.test(s));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(storable, async (text) => {
        const [[prompt, response, notes]] = await roundTrip(`rt-agent-${n++ % 4}`, [text]);
        return prompt === text && response === text && notes === text;
      }),
      { seed: 5_2026_1127, numRuns: ROUND_TRIP_CASES },
    );
  });

  it('refuses NUL (Postgres text cannot hold it) and lone surrogates (UTF-8 cannot) with 400, writing nothing', async () => {
    const before = await countRows(db.orm);
    for (const [field, text] of [
      ['prompt', 'a\u0000b'],
      ['response', '\u0000'],
      ['notes', 'x\u0000'],
      ['prompt', 'half \uD83D pair'],
      ['response', '\uDE00 low first'],
    ] as const) {
      const item = { prompt: 'p', response: 'r', score: 0, runId: 'rt-nul', [field]: text };
      const res = await app.inject({ method: 'POST', url: '/api/policies/feedback/verbatim-agent', payload: JSON.stringify(item), headers: { ...owner.headers, 'content-type': 'application/json' } });
      expect({ text: JSON.stringify(text), status: res.statusCode, field: res.json().field }).toEqual({ text: JSON.stringify(text), status: 400, field });
    }
    expect(await countRows(db.orm)).toEqual(before);
  });
});

afterAll(() => {
  // The number of fuzz cases, for the report (bench/RESULTS.md / README "Guarantees").
  console.log(`fuzz cases: ${ROUTE_CASES} route + ${MUTATION_CASES} mutation + ${ROUND_TRIP_CASES} round-trip = ${ROUTE_CASES + MUTATION_CASES + ROUND_TRIP_CASES}`);
});
