/**
 * Serves a run's event stream as Server-Sent Events (WHATWG HTML §9.2). Events come from
 * Postgres (run_event, written by the workers), polled every POLL_MS: the API needs no link to
 * the workers, any number of API processes can serve streams, and a reconnect after an API
 * restart resumes from `Last-Event-ID` because ids are the run's own sequence numbers (seq is
 * allocated under the run row's lock at commit order, so "after N" misses nothing).
 *
 * Browsers: EventSource cannot send an Authorization header, so clients read the stream with
 * fetch() and a ReadableStream (api/README.md shows one) and resend `Last-Event-ID` themselves.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Client } from '@temporalio/client';
import { RunEventKinds, type RunEvent } from '../common/run-events';
import { isFinishedStatus, type TrainingRun } from '../db/entities';
import type { StoredRunEvent } from '../db/repositories';
import { observeRun } from './run-workflows';

/** How often the stream looks for new events. Updates of the quick preset come every ~0.5-2 s. */
export const POLL_MS = 500;
/**
 * A comment line at least this often: proxies and load balancers close connections idle for
 * 30-60 s (nginx proxy_read_timeout 60 s, AWS ALB 60 s idle timeout).
 */
export const HEARTBEAT_MS = 15_000;
/** Events sent per poll before the next poll (a client far behind catches up in batches). */
const BATCH = 200;
/** Client reconnect delay the stream suggests (`retry:` field), ms. */
const RETRY_MS = 2_000;

export interface EventStreamOptions {
  client: Client;
  run: TrainingRun;
  afterSeq: number;
  /** False: end once the events recorded so far are sent. */
  follow: boolean;
  /**
   * The stream ends after this long even while the run goes on (RUN_EVENTS_MAX_STREAM_S); the client
   * reconnects with Last-Event-ID (the `retry:` delay) and misses nothing.
   */
  maxStreamMs: number;
  /** Aborted when the server closes. */
  closing: AbortSignal;
}

/** One SSE frame: id, event kind and the JSON envelope on one data line. */
export function sseFrame(runId: string, e: StoredRunEvent): string {
  const envelope: RunEvent = { id: e.seq, runId, kind: e.kind, at: e.createdAt.toISOString(), data: e.data as never };
  return `id: ${e.seq}\nevent: ${e.kind}\ndata: ${JSON.stringify(envelope)}\n\n`;
}

/**
 * Takes over the reply and streams until the run's `end` event has been sent, the client goes
 * away, the stream has lasted `maxStreamMs`, or the server closes. A failure mid-stream (database down) ends the stream; the client
 * reconnects with Last-Event-ID and loses nothing.
 */
export async function streamRunEvents(request: FastifyRequest, reply: FastifyReply, opts: EventStreamOptions): Promise<void> {
  const { run, client } = opts;
  const stop = new AbortController();
  const abort = () => stop.abort();
  request.raw.on('close', abort);
  opts.closing.addEventListener('abort', abort);
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx: do not buffer the stream.
    'x-accel-buffering': 'no',
  });
  res.write(`retry: ${RETRY_MS}\n\n`);
  let last = opts.afterSeq;
  let lastWrite = Date.now();
  const endsAt = Date.now() + opts.maxStreamMs;
  try {
    for (;;) {
      if (stop.signal.aborted || Date.now() >= endsAt) return;
      const events = await request.repos.runEvents.after(run.id, last, BATCH);
      for (const e of events) {
        res.write(sseFrame(run.id, e));
        last = e.seq;
        lastWrite = Date.now();
        if (e.kind === RunEventKinds.end) return;
      }
      if (events.length === BATCH) continue;
      if (!opts.follow) return;
      if (Date.now() - lastWrite >= HEARTBEAT_MS) {
        res.write(': heartbeat\n\n');
        lastWrite = Date.now();
        // A workflow closed behind the database's back (terminated, worker lost) is recorded
        // now, which appends its end event for the next poll.
        const current = await request.repos.trainingRuns.get(run.id);
        if (current && !isFinishedStatus(current.status)) await observeRun(client, request.repos, current).catch(() => undefined);
      }
      await sleep(POLL_MS, stop.signal);
    }
  } catch (err) {
    request.log.warn({ err, runId: run.id }, 'run event stream ended by an error');
  } finally {
    request.raw.off('close', abort);
    opts.closing.removeEventListener('abort', abort);
    res.end();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
