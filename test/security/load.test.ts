/**
 * A bounded load check on loopback (the figures for bench/RESULTS.md come from
 * bench/api-load.ts, which runs the client in its own process): 20 concurrent autocannon
 * connections post 600 feedback rows through the listening app with its auth, rate limit
 * and one EntityManager per request. Every request must be acknowledged (201, no errors,
 * no timeouts), and the rows in Postgres must equal the acknowledged writes, with no
 * duplicate or lost id.
 */
import autocannon from 'autocannon';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { FeedbackRepository } from '../../db/repositories';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

const REQUESTS = 600;
const CONNECTIONS = 20;

let db: TestDatabase;
let app: FastifyInstance;
let owner: TestProjectKey;

beforeAll(async () => {
  db = await createTestDatabase();
  // The per-key limit is raised: this checks correctness under concurrency, not the limiter.
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url, RATE_LIMIT_MAX: String(10 * REQUESTS) }) }, false);
  owner = await createTestProjectKey(db.orm);
  await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await app?.close();
  await db?.dispose();
});

it(`${CONNECTIONS} connections, ${REQUESTS} writes: all acknowledged, rows == acknowledged`, async () => {
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('the app is not listening on TCP');
  const ids: string[] = [];
  const result = await autocannon({
    url: `http://127.0.0.1:${address.port}/api/policies/feedback/load-agent`,
    method: 'POST',
    connections: CONNECTIONS,
    amount: REQUESTS,
    timeout: 30,
    headers: { ...owner.headers, 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'How do I reset my password?', response: 'Settings, then Security.', score: 0.8, runId: 'load' }),
    setupClient: (client) => client.on('body', (body: Buffer) => ids.push(JSON.parse(body.toString()).id)),
  });
  expect({ '2xx': result['2xx'], non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts }).toEqual({ '2xx': REQUESTS, non2xx: 0, errors: 0, timeouts: 0 });
  expect(new Set(ids).size).toBe(REQUESTS);
  expect(await new FeedbackRepository(db.orm.em.fork()).count('load-agent')).toBe(REQUESTS);
  console.log(`load check (in-process client, shared CPU): ${result.requests.average} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`);
});
