/** `rlhf runs list | watch ID | pause ID | resume ID | cancel ID`. */
import { Command, InvalidArgumentError } from 'commander';
import type { RunControlAction } from '../api-client';
import { positiveInt, type CliContext } from '../context';
import { RunEndedError } from '../errors';
import { followRun, liveRunViews, renderResultTable, table } from '../watch';
import { safeId } from './feedback';

/** How often `runs watch` asks for the run when the server has no event stream (and between reconnects), ms. */
export const DEFAULT_WATCH_INTERVAL_MS = 1000;

interface ListOptions {
  agent?: string;
  status?: string;
  since?: string;
  limit?: number;
  cursor?: string;
}

function isoDate(value: string): string {
  if (Number.isNaN(Date.parse(value))) throw new InvalidArgumentError(`expected an ISO-8601 date or date-time, got ${JSON.stringify(value)}`);
  return new Date(value).toISOString();
}

export function runsCommand(ctx: CliContext): Command {
  const runs = new Command('runs').description('training runs');
  runs
    .command('list')
    .description("list the project's training runs, newest first")
    .option('--agent <agentId>', 'only this agent', safeId)
    .option('--status <status>', 'only runs in this status (queued, running, paused, completed, failed, cancelled)')
    .option('--since <date>', 'only runs created at or after this ISO-8601 time', isoDate)
    .option('--limit <n>', 'page size', positiveInt)
    .option('--cursor <cursor>', 'nextCursor of a previous page')
    .action((opts: ListOptions) => listRuns(ctx, opts));
  runs
    .command('watch')
    .description('follow a run with a live progress bar until it ends; prints its result table')
    .argument('<runId>', 'the run', safeId)
    .option('--interval-ms <ms>', 'how often to ask for progress when the server has no event stream', positiveInt, DEFAULT_WATCH_INTERVAL_MS)
    .action((runId: string, opts: { intervalMs: number }) => watchRun(ctx, runId, opts));
  for (const action of ['pause', 'resume', 'cancel'] as const satisfies readonly RunControlAction[]) {
    runs
      .command(action)
      .description(`${action} a run`)
      .argument('<runId>', 'the run', safeId)
      .action((runId: string) => controlRun(ctx, runId, action));
  }
  return runs;
}

async function listRuns(ctx: CliContext, opts: ListOptions): Promise<void> {
  const page = await ctx.client().listRuns({ agentId: opts.agent, status: opts.status, since: opts.since, limit: opts.limit, cursor: opts.cursor });
  if (ctx.json) return ctx.printJson(page);
  if (page.items.length === 0) return ctx.print('no runs');
  ctx.print(table([['run', 'agent', 'status', 'created', 'finished'], ...page.items.map((r) => [r.runId, r.agentId, r.status, r.createdAt, r.finishedAt ?? ''])]));
  if (page.nextCursor) ctx.note(`more: rlhf runs list --cursor ${page.nextCursor}`);
}

/** Follows the run on the progress line (stderr), then prints the result table (stdout); exit 1 unless completed. */
export async function watchRun(ctx: CliContext, runId: string, opts: { intervalMs?: number }): Promise<void> {
  const client = ctx.client();
  const last = await followRun(liveRunViews(client, runId, { intervalMs: opts.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS }), ctx.io.err);
  if (ctx.json) ctx.printJson(last);
  else if (last.result) ctx.print(renderResultTable(last.result));
  if (last.status !== 'completed') throw new RunEndedError(runId, last.status, last.error ?? last.progress?.error ?? null);
  if (!ctx.json) ctx.note(`run ${runId} completed`);
}

async function controlRun(ctx: CliContext, runId: string, action: RunControlAction): Promise<void> {
  const accepted = await ctx.client().controlRun(runId, action);
  if (ctx.json) return ctx.printJson(accepted);
  ctx.print(`${action} of run ${runId} accepted`);
}
