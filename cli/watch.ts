/**
 * Following a run until it ends, for `rlhf runs watch`, `rlhf train --watch` and the demo. A follower
 * consumes a stream of run views (`RunViewSource`) and draws each on the progress line. Two sources:
 * `pollRunViews` asks `GET /api/runs/:runId` at an interval; `liveRunViews` reads the run's event stream
 * (`GET /api/runs/:runId/events`, Server-Sent Events, resumed with Last-Event-ID after a dropped
 * connection) and reads the view again on every event, so the bar moves when the run does, and every
 * interval while the stream is quiet (epoch progress has no events). A server without the event route gets
 * polled. The view always comes from `GET /api/runs/:runId`; events only say "now".
 */
import type { RlhfApiClient, RunViewBody } from './api-client';
import { renderProgressLine, TerminalLine, type LineSink } from './progress';
import { readSse } from './sse';
import { isEvaluationReport, renderEvaluation } from './evaluation-table';

/** Reconnects of the event stream in a row without a new event before the follower falls back to polling. */
const MAX_EVENT_RECONNECTS = 5;

/** Statuses after which a run never changes again. */
export const TERMINAL_RUN_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

/** Views of one run, in order, ending with the first terminal view that is final (see `isFinal`). */
export type RunViewSource = AsyncIterable<RunViewBody>;

/** A terminal view is final once a completed run carries its result (the API adds it shortly after the status). */
export function isFinal(view: RunViewBody): boolean {
  if (!TERMINAL_RUN_STATUSES.has(view.status)) return false;
  return view.status !== 'completed' || view.result !== null;
}

/**
 * Polls `GET /api/runs/:runId` every `intervalMs` until the view is final. A completed run whose result
 * has not arrived after `resultGraceMs` is yielded as it is (the run is done either way).
 */
export async function* pollRunViews(client: RlhfApiClient, runId: string, opts: { intervalMs: number; resultGraceMs?: number }): RunViewSource {
  let completedAt: number | null = null;
  for (;;) {
    const view = await client.getRun(runId);
    yield view;
    if (isFinal(view)) return;
    if (view.status === 'completed') {
      completedAt ??= Date.now();
      if (Date.now() - completedAt > (opts.resultGraceMs ?? 10_000)) return;
    }
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs));
  }
}

const TIMED_OUT = Symbol('timed out');

/** `pending`, or TIMED_OUT when it has not settled within `ms` (the promise is left running for the next call). */
async function nextOrTimeout<T>(pending: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([pending, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Views driven by the run's event stream (see the module comment). Falls back to `pollRunViews` on a server
 * without the route, once the run is terminal but its result is not there yet, and after
 * MAX_EVENT_RECONNECTS connections in a row that brought nothing.
 */
export async function* liveRunViews(client: RlhfApiClient, runId: string, opts: { intervalMs: number; resultGraceMs?: number }): RunViewSource {
  let view = await client.getRun(runId);
  yield view;
  if (isFinal(view)) return;
  const abort = new AbortController();
  let lastEventId: string | null = null;
  try {
    for (let idle = 0; idle < MAX_EVENT_RECONNECTS; idle++) {
      const stream = await client.openRunEvents(runId, lastEventId, abort.signal);
      if (!stream) break;
      const events = readSse(stream)[Symbol.asyncIterator]();
      // A read left pending when the loop ends rejects once the stream is aborted; nothing awaits it then.
      const read = () => {
        const p = events.next();
        p.catch(() => undefined);
        return p;
      };
      let next = read();
      for (;;) {
        // The reward-model and SFT phases send no event per epoch, but the view's step/total moves with
        // their heartbeats (api/epoch-progress.ts): while the stream is quiet, read the view every interval.
        const got = await nextOrTimeout(next, opts.intervalMs);
        if (got === TIMED_OUT) {
          view = await client.getRun(runId);
          yield view;
          if (TERMINAL_RUN_STATUSES.has(view.status)) break;
          continue;
        }
        if (got.done) break;
        next = read();
        idle = 0;
        lastEventId = got.value.id ?? lastEventId;
        view = await client.getRun(runId);
        yield view;
        if (isFinal(view)) return;
        if (TERMINAL_RUN_STATUSES.has(view.status)) break;
      }
      if (TERMINAL_RUN_STATUSES.has(view.status)) break;
      await new Promise((resolve) => setTimeout(resolve, opts.intervalMs));
    }
  } finally {
    abort.abort();
  }
  yield* pollRunViews(client, runId, opts);
}

/** Draws every view of `source` on one progress line and returns the last view. */
export async function followRun(source: RunViewSource, sink: LineSink): Promise<RunViewBody> {
  const line = new TerminalLine(sink);
  const started = Date.now();
  let last: RunViewBody | null = null;
  try {
    for await (const view of source) {
      last = view;
      line.update(renderProgressLine(view, Date.now() - started));
    }
  } finally {
    line.end();
  }
  if (!last) throw new Error('the run view stream ended before its first view');
  return last;
}

/**
 * The end-of-run table: the result's fields, then the evaluation phase's before/after table
 * (cli/evaluation-table.ts) when the result carries one, and any other nested object as key/value rows.
 */
export function renderResultTable(result: Record<string, unknown>): string {
  const rows: Array<[string, string]> = [];
  const nested: Array<[string, Record<string, unknown>]> = [];
  for (const [key, value] of Object.entries(result)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) nested.push([key, value as Record<string, unknown>]);
    else rows.push([key, formatValue(value)]);
  }
  const out = [table(rows)];
  for (const [key, obj] of nested) {
    if (isEvaluationReport(obj)) {
      out.push(`\n${renderEvaluation(obj)}`);
    } else {
      out.push(`\n${key}\n${table(Object.entries(obj).map(([k, v]): [string, string] => [k, formatValue(v)]))}`);
    }
  }
  return out.join('\n');
}

function formatValue(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(4);
  if (value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Left-aligned columns, two spaces apart. */
export function table(rows: Array<string[]>): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}
