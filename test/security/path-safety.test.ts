/**
 * Ids that become file paths (agentId, runId; artifact keys built from them) can never leave
 * the artifact root. API level: traversal, absolute paths, NUL, backslashes, unicode
 * look-alikes and normalisation tricks in every route's id answer 400 (or 404 when the
 * router matches no route), never 2xx or 5xx, and write nothing. Property level (fast-check,
 * seeded): the API accepts an id exactly when common/ids accepts it, and every accepted id
 * resolves inside the store root and is invariant under Unicode normalisation.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { isSafeId } from '../../common/ids';
import { LocalArtifactStore, checkpointKey, policyKey, runKey } from '../../storage/artifact-store';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { countRows } from './row-counts';
import { PROTECTED_ROUTES, routeName, withHeaders } from './routes';

let db: TestDatabase;
let app: FastifyInstance;
let owner: TestProjectKey;
let sandbox: string;

/** Raw URL path segments (already percent-encoded where a client would have to). */
const HOSTILE_ID_SEGMENTS = [
  '..',
  '.',
  '%2e%2e',
  '..%2F..%2Fetc',
  '%2e%2e%2f%2e%2e%2fetc',
  '%252e%252e%252f', // double-encoded: decodes once to %2e%2e%2f, still not a safe id
  '%2Fetc%2Fpasswd',
  'a%00b',
  '%00',
  'a%5C..%5Cb',
  'C:%5Cwindows',
  '%EF%BC%8E%EF%BC%8E', // fullwidth full stops
  '%E2%80%A5', // two dot leader
  '%EF%BC%8F', // fullwidth solidus
  '%E2%88%95etc', // division slash
  'a%E2%80%AEb', // right-to-left override
  'e%CC%81', // e + combining acute
  '%C3%A9', // precomposed é
  '%E2%84%AA', // Kelvin sign (NFKC: K)
  '%EF%BD%81gent', // fullwidth a
  'agent%20x',
  'agent%0A',
  '.hidden',
  '-agent',
  '~root',
  'a'.repeat(65),
];

beforeAll(async () => {
  sandbox = await mkdtemp(path.join(os.tmpdir(), 'path-safety-'));
  db = await createTestDatabase();
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url, ARTIFACT_ROOT: path.join(sandbox, 'root'), RLHF_BASE_MODEL_ROOT: path.join(sandbox, 'bases') }) }, false);
  owner = await createTestProjectKey(db.orm);
  const items = Array.from({ length: 10 }, (_, i) => ({ prompt: `p${i}`, response: 'r', score: i, runId: 'rt-1' }));
  expect((await app.inject({ method: 'POST', url: '/api/policies/feedback/path-agent/batch', payload: { items }, headers: owner.headers })).statusCode).toBe(201);
});
afterAll(async () => {
  await app?.close();
  await db?.dispose();
  await rm(sandbox, { recursive: true, force: true });
});

/** '.' or '..', also percent-encoded (RFC 3986 §6.2.2.2: %2E is '.'). */
function isDotSegment(segment: string): boolean {
  const decoded = segment.replace(/%2e/gi, '.');
  return decoded === '.' || decoded === '..';
}

describe('hostile ids in every route', () => {
  it.each(PROTECTED_ROUTES.map((r) => [routeName(r), r] as const))('%s refuses them and writes nothing', async (_name, route) => {
    const before = await countRows(db.orm);
    for (const segment of HOSTILE_ID_SEGMENTS) {
      const res = await app.inject(withHeaders(route.request({ agentId: segment, runId: segment }), owner.headers));
      expect({ segment, status: res.statusCode }).toEqual({ segment, status: expect.any(Number) });
      // '.' and '..' are dot segments: URL parsing removes them before routing, so the request
      // reaches another route (or none) and the id never exists as such; that route may not
      // take the method (POST /api/runs/pause is GET /api/runs/{runId}'s path: 405) or may refuse
      // the body's media type (import's NDJSON reaching the single POST: 415).
      const refusals = isDotSegment(segment) ? [400, 404, 405, 415] : [400, 404];
      expect({ segment, refused: refusals.includes(res.statusCode) }).toEqual({ segment, refused: true });
      if (res.statusCode === 400 && segment !== '.' && segment !== '..') expect({ segment, field: res.json().field }).toEqual({ segment, field: route.subject });
    }
    expect(await countRows(db.orm)).toEqual(before);
    expect(await readdir(sandbox)).toEqual([]);
  });

  it('a body runId (feedback) and a baseModelDir (train) with traversal are refused naming the field', async () => {
    for (const runId of ['../x', '/etc', 'a\\b', 'a\u0000b', 'ａ']) {
      const res = await app.inject({ method: 'POST', url: '/api/policies/feedback/path-agent', payload: { prompt: 'p', response: 'r', score: 1, runId }, headers: owner.headers });
      expect({ runId, status: res.statusCode, field: res.json().field }).toEqual({ runId, status: 400, field: 'runId' });
    }
    for (const baseModelDir of ['../../etc', '/etc', '..\\..\\etc', 'a\u0000b', '%2e%2e/%2e%2e']) {
      const res = await app.inject({ method: 'POST', url: '/api/policies/train_policy/path-agent', payload: { dryRun: true, baseModelDir }, headers: owner.headers });
      expect({ baseModelDir, status: res.statusCode, field: res.json().field }).toEqual({ baseModelDir, status: 400, field: 'baseModelDir' });
    }
  });
});

/** Strings built from path-ish pieces and arbitrary unicode: the shapes an attacker tries. */
const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 70 }),
  fc
    .array(fc.constantFrom('..', '.', '/', '\\', '\u0000', 'a', 'Z', '9', '_', '-', '%2e', '%2f', '\uff0e', '\uff0f', '\u2215', '\u202e', '\u0301', 'é', 'K', ' ', 'C:'), { maxLength: 12 })
    .map((parts) => parts.join('')),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,70}$/),
);

describe('properties (fast-check, seeded)', () => {
  it('the API accepts an agent id exactly when isSafeId does (300 cases)', async () => {
    await fc.assert(
      fc.asyncProperty(hostileString, async (id) => {
        const res = await app.inject({ method: 'GET', url: `/api/policies/${encodeURIComponent(id)}`, headers: owner.headers });
        // A safe id is checked for ownership (404: not this project's); an unsafe one fails validation.
        if (isSafeId(id)) return res.statusCode === 404 && res.json().field === 'agentId';
        // encodeURIComponent keeps dots: '.'/'..' are dot segments, resolved away before routing.
        if (id === '.' || id === '..') return res.statusCode === 404;
        return res.statusCode === 400 && res.json().field === 'agentId';
      }),
      { seed: 20261125, numRuns: 300 },
    );
  });

  it('every id either is refused by the key builders or resolves inside the root (2000 cases)', () => {
    const store = new LocalArtifactStore(path.join(sandbox, 'root'));
    fc.assert(
      fc.property(hostileString, (id) => {
        const keys = [() => policyKey(id, 'v1', 'policy'), () => policyKey('agent', id), () => runKey(id, 'dataset'), () => checkpointKey(id, 3)];
        for (const build of keys) {
          let resolved: string;
          try {
            resolved = store.resolve(build());
          } catch (err) {
            if (isSafeId(id)) throw err;
            continue;
          }
          if (!isSafeId(id)) return false;
          if (!resolved.startsWith(store.root + path.sep) || path.relative(store.root, resolved).split(path.sep).includes('..')) return false;
          if (id.normalize('NFC') !== id || id.normalize('NFKC') !== id) return false;
        }
        return true;
      }),
      { seed: 20261125, numRuns: 2000 },
    );
  });
});
