/**
 * The API's log stream (pino, captured at trace level) never holds an API key or feedback
 * text: not for accepted writes, reads, validation failures, auth failures, nor for a
 * database error whose SQL message quotes the prompt (knex inlines bound values).
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { loadEnv } from '../../common/env';
import { createTestProjectKey, type TestProjectKey } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;
let app: FastifyInstance;
let owner: TestProjectKey;
let stranger: TestProjectKey;
const lines: string[] = [];
const marker = `PROMPT-MARKER-${randomBytes(6).toString('hex')}`;

beforeAll(async () => {
  db = await createTestDatabase();
  const stream = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
  app = await buildApp({ env: loadEnv({ ...process.env, DATABASE_URL: db.url }) }, { level: 'trace', stream });
  owner = await createTestProjectKey(db.orm);
  stranger = await createTestProjectKey(db.orm);
  // A constraint the marker violates, so Postgres fails the insert with an error that quotes the row.
  await db.orm.em.fork().getConnection().execute(`alter table feedback add constraint no_boom check (prompt not like 'BOOM%')`);
});
afterAll(async () => {
  await app?.close();
  await db?.dispose();
});

const item = (prompt: string) => ({ prompt, response: `response ${marker}`, score: 0.5, runId: 'rt-1', notes: `notes ${marker}` });

it('holds neither keys nor feedback text, whatever the request did', async () => {
  const url = '/api/policies/feedback/log-agent';
  const answers = [
    await app.inject({ method: 'POST', url, payload: item(`ok ${marker}`), headers: owner.headers }),
    await app.inject({ method: 'POST', url: `${url}/batch`, payload: { items: [item(`batch ${marker}`)] }, headers: owner.headers }),
    await app.inject({ method: 'GET', url, headers: owner.headers }),
    await app.inject({ method: 'POST', url, payload: { ...item(`invalid ${marker}`), score: 'high' }, headers: owner.headers }),
    await app.inject({ method: 'POST', url, payload: item(`stranger ${marker}`), headers: stranger.headers }),
    await app.inject({ method: 'POST', url, payload: item(`nokey ${marker}`), headers: { authorization: `Bearer ${owner.key}x` } }),
    await app.inject({ method: 'POST', url, payload: item(`BOOM ${marker}`), headers: owner.headers }),
  ];
  expect(answers.map((a) => a.statusCode)).toEqual([201, 201, 200, 400, 404, 401, 500]);
  // The read itself returns the text (so the marker really went through the app).
  expect(answers[2].body).toContain(marker);
  expect(answers[6].json()).toEqual({ error: 'internal_error', message: 'Internal server error' });

  const log = lines.join('');
  // The capture works: one completed line per request, and the database failure was logged.
  expect(log.match(/request completed/g)).toHaveLength(answers.length);
  expect(log).toContain('CheckConstraintViolationException');
  expect(log).toContain('23514');
  for (const secret of [marker, owner.key, stranger.key, owner.key.slice(-43), stranger.key.slice(-43)]) {
    expect({ secret, leaked: log.includes(secret) }).toEqual({ secret, leaked: false });
  }
});

it('redacts an Authorization header if code ever logs one', () => {
  const before = lines.length;
  app.log.info({ req: { headers: { authorization: `Bearer ${owner.key}` } }, headers: { authorization: owner.key } }, 'probe');
  const line = lines.slice(before).join('');
  expect(line).toContain('[redacted]');
  expect(line).not.toContain(owner.key);
});
