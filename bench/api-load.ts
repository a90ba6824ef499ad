/**
 * Benchmark 7: the feedback API under load, on loopback only. The real app (buildApp: auth,
 * rate limit, forked EntityManager per request, Postgres) listens on 127.0.0.1; autocannon runs
 * as a separate process (so client and server do not share an event loop) and sends
 * `POST /api/policies/feedback/:agentId` with 10 and with 100 concurrent connections, a fixed
 * number of requests per run (bounded by a per-request timeout and an overall limit). Every run
 * writes to its own agent; afterwards the rows in Postgres must equal the 201 answers.
 *   npx tsx bench/api-load.ts [--connections 10,100] [--requests 2000] [--runs 5] [--no-write]
 */
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../api/app';
import { loadEnv } from '../common/env';
import { FeedbackRepository } from '../db/repositories';
import { ProjectRepository } from '../db/repositories/project-repository';
import { autocannon, type AutocannonResult } from './lib/autocannon';
import { machineLine, mdTable, writeSection } from './lib/results';
import { benchServices, createBenchDatabase } from './lib/services';
import { summarize, type Summary } from './lib/stats';
import { uniqueId } from './lib/training-run';

const RUN_LIMIT_MS = 120_000;

const FEEDBACK_BODY = { prompt: 'How do I reset my password?', response: 'Open Settings, then Security, then Reset.', score: 0.8, runId: 'load' };

function feedbackLoad(url: string, connections: number, amount: number, authorization: string): Promise<AutocannonResult> {
  return autocannon({ url, connections, amount, authorization, body: FEEDBACK_BODY, timeoutS: 10, limitMs: RUN_LIMIT_MS });
}

interface RunOutcome {
  throughput: number;
  p99: number;
  p50: number;
  acknowledged: number;
  rows: number;
  failures: number;
}

async function oneRun(app: FastifyInstance, base: string, countRows: (agentId: string) => Promise<number>, connections: number, amount: number, auth: string): Promise<RunOutcome> {
  const agentId = uniqueId('load');
  const r = await feedbackLoad(`${base}/api/policies/feedback/${agentId}`, connections, amount, auth);
  return {
    throughput: r['2xx'] / r.duration,
    p99: r.latency.p99,
    p50: r.latency.p50,
    acknowledged: r['2xx'],
    rows: await countRows(agentId),
    failures: r.non2xx + r.errors + r.timeouts,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '10,100' },
      requests: { type: 'string', default: '2000' },
      runs: { type: 'string', default: '5' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const levels = values.connections.split(',').map(Number);
  const amount = Number(values.requests);
  const runs = Number(values.runs);
  const services = await benchServices((l) => console.log(l));
  const db = await createBenchDatabase(services.databaseUrl);
  // The limiter stays in the request path, with a limit the bench cannot reach (it measures the API, not the limiter).
  const env = loadEnv({ ...process.env, DATABASE_URL: db.url, TEMPORAL_ADDRESS: services.temporalAddress, RATE_LIMIT_MAX: '100000000', LOG_LEVEL: 'warn' });
  const app = await buildApp({ env }, false);
  const byLevel = new Map<number, RunOutcome[]>();
  try {
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const projects = new ProjectRepository(db.orm.em.fork());
    const project = await projects.ensure(uniqueId('bench-project'));
    const { key } = await projects.createKey(project.id, 'api-load');
    const auth = `Bearer ${key}`;
    const countRows = (agentId: string) => new FeedbackRepository(db.orm.em.fork()).count(agentId);
    await oneRun(app, address, countRows, 10, 200, auth); // warm-up: JIT, connection pool
    for (const c of levels) {
      const outcomes: RunOutcome[] = [];
      for (let i = 0; i < runs; i++) {
        outcomes.push(await oneRun(app, address, countRows, c, amount, auth));
        console.log(`c=${c} run ${i + 1}: ${JSON.stringify(outcomes[outcomes.length - 1])}`);
      }
      byLevel.set(c, outcomes);
    }
  } finally {
    await app.close();
    await db.dispose();
    await services.stop();
  }
  const fmt = (s: Summary, d = 0) => `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`;
  let allGood = true;
  const rows = levels.map((c) => {
    const o = byLevel.get(c)!;
    const failures = o.reduce((a, x) => a + x.failures, 0);
    const consistent = o.every((x) => x.rows === x.acknowledged);
    allGood &&= failures === 0 && consistent;
    return [
      c,
      fmt(summarize(o.map((x) => x.throughput))),
      fmt(summarize(o.map((x) => x.p50)), 1),
      fmt(summarize(o.map((x) => x.p99)), 1),
      failures,
      `${consistent ? 'yes' : 'NO'} (${o.reduce((a, x) => a + x.rows, 0)} rows / ${o.reduce((a, x) => a + x.acknowledged, 0)} × 201)`,
    ];
  });
  const md = [
    '## 7. API load',
    '',
    machineLine('Fastify API, Postgres and autocannon on this machine, loopback only'),
    '',
    `Command: \`npx tsx bench/api-load.ts --connections ${levels.join(',')} --requests ${amount} --runs ${runs}\`. Each run: ${amount} ` +
      '`POST /api/policies/feedback/:agentId` (API key auth, per-key rate limiter in the path with an unreachable limit, validation, ' +
      'agent claim on the first write, then cached key and owner lookups and a one-statement insert) from an autocannon process, 10 s per-request timeout; a new agent per run. ' +
      `Median (min–max) of ${runs} runs after a warm-up.`,
    '',
    mdTable(['connections', 'writes/s', 'p50 ms', 'p99 ms', 'errors + non-2xx + timeouts', 'rows in Postgres = 201 answers'], rows),
    '',
    `Verdict: ${allGood ? 'zero errors, and every acknowledged write is in Postgres (no more, no less).' : 'FAILED: see the errors or the row counts above.'} ` +
      'Throughput is bounded by this 2-core machine, shared by the server, Postgres, the load generator and other work; ' +
      'more connections raise latency (queueing), not throughput.',
  ].join('\n');
  console.log(md);
  if (!values['no-write']) await writeSection('api-load', md);
  if (!allGood) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
