/**
 * Benchmark 7b: bulk feedback import and export, on loopback only. The real app (buildApp)
 * listens in this process; curl, a separate process, uploads a 1,000,000-row NDJSON file
 * (made once in a temp dir; plain and gzip) to `POST /api/policies/feedback/:agentId/import`
 * and downloads `GET .../export` to /dev/null, while this process samples its own resident
 * memory (the server's) every 20 ms. Baseline in the same run: the same rows through the batch
 * route (1,000 rows per request, sequential), for a rows/s ratio. After each import the rows in
 * Postgres must equal `imported`.
 *   npx tsx bench/feedback-bulk.ts [--rows 1000000] [--runs 3] [--baseline-rows 100000] [--no-write]
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { parseArgs } from 'node:util';
import { buildApp } from '../api/app';
import { loadEnv } from '../common/env';
import { FeedbackRepository } from '../db/repositories';
import { ProjectRepository } from '../db/repositories/project-repository';
import { machineLine, mdTable, writeSection } from './lib/results';
import { benchServices, createBenchDatabase } from './lib/services';
import { summarize, type Summary } from './lib/stats';
import { uniqueId } from './lib/training-run';

const MB = 2 ** 20;

/** A realistic row: a support question and answer, about 200 bytes of NDJSON. */
const row = (i: number) => ({
  prompt: `How do I reset the password of account ${i}?`,
  response: 'Open Settings, then Security, then Reset password; a link arrives by e-mail within a minute.',
  score: ((i * 7919) % 201) / 100 - 1,
  runId: `run-${i % 97}`,
  ...(i % 5 === 0 ? { notes: 'checked by a reviewer' } : {}),
});

function* lines(n: number, per = 1000): Generator<string> {
  for (let i = 1; i <= n; i += per) {
    let s = '';
    for (let k = i; k < Math.min(i + per, n + 1); k++) s += `${JSON.stringify(row(k))}\n`;
    yield s;
  }
}

async function writeFile(file: string, n: number, gzip: boolean): Promise<void> {
  const source = Readable.from(lines(n));
  await (gzip ? pipeline(source, createGzip(), createWriteStream(file)) : pipeline(source, createWriteStream(file)));
}

function curl(args: string[]): Promise<{ status: number; body: string; seconds: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-w', '\n%{http_code}', ...args], { maxBuffer: 16 * MB, timeout: 600_000 }, (err, stdout, stderr) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (err) return reject(new Error(`curl failed: ${err.message}\n${stderr}`));
      const i = stdout.lastIndexOf('\n');
      resolve({ status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i), seconds });
    });
  });
}

/** Runs `fn` while sampling this process's RSS; returns its result and the peak growth (bytes). */
async function withRss<T>(fn: () => Promise<T>): Promise<{ result: T; rssGrowth: number }> {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  try {
    return { result: await fn(), rssGrowth: peak - start };
  } finally {
    clearInterval(timer);
  }
}

interface Outcome {
  seconds: number;
  rowsPerSecond: number;
  rssGrowthMb: number;
  consistent: boolean;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      runs: { type: 'string', default: '3' },
      'baseline-rows': { type: 'string', default: '100000' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const n = Number(values.rows);
  const runs = Number(values.runs);
  const baselineRows = Number(values['baseline-rows']);
  const machine = machineLine('Fastify API, Postgres and curl on this machine, loopback only');
  const services = await benchServices((l) => console.log(l));
  const db = await createBenchDatabase(services.databaseUrl);
  const env = loadEnv({ ...process.env, DATABASE_URL: db.url, TEMPORAL_ADDRESS: services.temporalAddress, RATE_LIMIT_MAX: '100000000', BULK_RATE_LIMIT_MAX: '1000', LOG_LEVEL: 'warn' });
  const app = await buildApp({ env }, false);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'feedback-bulk-'));
  const results = new Map<string, Outcome[]>();
  const add = (k: string, o: Outcome) => {
    results.set(k, [...(results.get(k) ?? []), o]);
    console.log(`${k}: ${JSON.stringify(o)}`);
  };
  let fileMb = 0;
  let gzipMb = 0;
  try {
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const projects = new ProjectRepository(db.orm.em.fork());
    const project = await projects.ensure(uniqueId('bench-project'));
    const { key } = await projects.createKey(project.id, 'feedback-bulk');
    const authorization = `authorization: Bearer ${key}`;
    const count = (agentId: string) => new FeedbackRepository(db.orm.em.fork()).count(agentId);
    const plain = path.join(dir, 'rows.ndjson');
    const gz = path.join(dir, 'rows.ndjson.gz');
    await writeFile(plain, n, false);
    await writeFile(gz, n, true);
    fileMb = (await stat(plain)).size / MB;
    gzipMb = (await stat(gz)).size / MB;

    const importOnce = async (label: string, file: string, gzip: boolean) => {
      const agentId = uniqueId('bulk');
      const headers = ['-H', authorization, '-H', 'content-type: application/x-ndjson', ...(gzip ? ['-H', 'content-encoding: gzip'] : [])];
      const { result, rssGrowth } = await withRss(() => curl(['-X', 'POST', ...headers, '-T', file, `${base}/api/policies/feedback/${agentId}/import`]));
      if (result.status !== 201) throw new Error(`import answered ${result.status}: ${result.body}`);
      const imported = (JSON.parse(result.body) as { imported: number }).imported;
      add(label, { seconds: result.seconds, rowsPerSecond: imported / result.seconds, rssGrowthMb: rssGrowth / MB, consistent: imported === n && (await count(agentId)) === n });
      return agentId;
    };

    await importOnce('warm-up', plain, false);
    let exported = '';
    for (let i = 0; i < runs; i++) {
      exported = await importOnce('import (NDJSON)', plain, false);
      await importOnce('import (gzip)', gz, true);
    }
    for (let i = 0; i < runs; i++) {
      const { result, rssGrowth } = await withRss(() => curl(['-H', authorization, '-o', '/dev/null', `${base}/api/policies/feedback/${exported}/export`]));
      if (result.status !== 200) throw new Error(`export answered ${result.status}`);
      add('export', { seconds: result.seconds, rowsPerSecond: n / result.seconds, rssGrowthMb: rssGrowth / MB, consistent: true });
    }
    // Baseline: the batch route, 1,000 rows per request, one request at a time.
    for (let i = 0; i < runs; i++) {
      const agentId = uniqueId('batch');
      const started = process.hrtime.bigint();
      const { rssGrowth } = await withRss(async () => {
        for (let k = 0; k < baselineRows; k += 1000) {
          const items = Array.from({ length: 1000 }, (_, j) => row(k + j + 1));
          const res = await fetch(`${base}/api/policies/feedback/${agentId}/batch`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({ items }),
          });
          if (res.status !== 201) throw new Error(`batch answered ${res.status}`);
          await res.arrayBuffer();
        }
      });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      add('batch route (baseline)', { seconds, rowsPerSecond: baselineRows / seconds, rssGrowthMb: rssGrowth / MB, consistent: (await count(agentId)) === baselineRows });
    }
  } finally {
    await app.close();
    await db.dispose();
    await services.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const fmt = (s: Summary, d = 0) => `${s.median.toFixed(d)} (${s.min.toFixed(d)}–${s.max.toFixed(d)})`;
  const baseline = summarize(results.get('batch route (baseline)')!.map((o) => o.rowsPerSecond)).median;
  const labels = ['import (NDJSON)', 'import (gzip)', 'export', 'batch route (baseline)'];
  const table = labels.map((k) => {
    const o = results.get(k)!;
    const rate = summarize(o.map((x) => x.rowsPerSecond));
    return [k, k.startsWith('batch') ? baselineRows : n, fmt(summarize(o.map((x) => x.seconds)), 1), fmt(rate), `${(rate.median / baseline).toFixed(1)}×`, fmt(summarize(o.map((x) => x.rssGrowthMb))), o.every((x) => x.consistent) ? 'yes' : 'NO'];
  });
  const allGood = [...results.values()].every((o) => o.every((x) => x.consistent));
  const md = [
    '## 7b. Bulk feedback import and export (issue 15)',
    '',
    machine,
    '',
    `Command: \`npx tsx bench/feedback-bulk.ts --rows ${n} --runs ${runs} --baseline-rows ${baselineRows}\`. A ${n}-row NDJSON file ` +
      `(${fileMb.toFixed(0)} MB; ${gzipMb.toFixed(1)} MB gzip) uploaded by curl (\`-T\`, streamed) to \`POST /api/policies/feedback/:agentId/import\`, ` +
      'a new agent each time; the export streams the same rows to curl (`-o /dev/null`). Peak growth of the server process\'s RSS is sampled every 20 ms ' +
      `over each request. Baseline in the same run: \`POST .../batch\` with 1,000 rows per request, sequentially. Median (min–max) of ${runs} runs after a warm-up import.`,
    '',
    mdTable(['what', 'rows', 'seconds', 'rows/s', 'vs batch route', 'server RSS growth MB', 'rows stored = imported'], table),
    '',
    `Verdict: ${allGood ? 'every import stored exactly its rows' : 'FAILED: rows stored differ from rows imported'}; ` +
      `goal: ${n.toLocaleString('en')} rows in under 60 s with flat memory. The import's memory is two COPY batches of 5,000 rows plus one line, whatever the file's size, ` +
      'so RSS growth does not scale with the file (compare it with the file size above).',
  ].join('\n');
  console.log(md);
  if (!values['no-write']) await writeSection('feedback-bulk', md);
  if (!allGood) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
