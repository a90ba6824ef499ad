/**
 * Runs autocannon as its own process (so the load generator does not share the server's event
 * loop): `amount` JSON POSTs of `body` over `connections` connections with an API key, and
 * returns its --json report.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';

const AUTOCANNON = path.join(__dirname, '..', '..', 'node_modules', 'autocannon', 'autocannon.js');

/** What autocannon --json reports (the fields the benches use). */
export interface AutocannonResult {
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
  latency: { p50: number; p99: number };
  requests: { average: number; total: number };
}

export interface AutocannonRun {
  url: string;
  connections: number;
  amount: number;
  authorization: string;
  body: object;
  /** Per-request timeout, seconds. */
  timeoutS: number;
  /** Kill the whole run past this, ms. */
  limitMs: number;
}

export function autocannon(run: AutocannonRun): Promise<AutocannonResult> {
  const args = [AUTOCANNON, '-j', '-c', String(run.connections), '-a', String(run.amount), '-t', String(run.timeoutS), '-m', 'POST'];
  args.push('-H', 'content-type=application/json', '-H', `authorization=${run.authorization}`, '-b', JSON.stringify(run.body), run.url);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: run.limitMs, maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`autocannon failed: ${err.message}\n${stderr.slice(-1000)}`));
      else resolve(JSON.parse(stdout) as AutocannonResult);
    });
  });
}
