/**
 * `rlhf feedback import rows.jsonl --agent A`: checks every line first (a bad one is named and nothing is
 * sent), then posts batches of at most 1000 rows to the batch route, each under a deterministic
 * Idempotency-Key, so an interrupted import can simply be run again: stored batches are replayed, not
 * written twice. Each batch is all-or-nothing on the server.
 */
import { Command, InvalidArgumentError } from 'commander';
import { SAFE_ID_PATTERN } from '../../common/ids';
import { batchesOf, batchIdempotencyKey, MAX_BATCH_ITEMS, readFeedbackFile } from '../feedback-file';
import { positiveInt, type CliContext } from '../context';
import { renderCountLine, TerminalLine } from '../progress';

const SAFE_ID_RE = new RegExp(SAFE_ID_PATTERN);

/** commander parser for agent and run ids (letters, digits, _ and -, at most 64). */
export function safeId(value: string): string {
  if (!SAFE_ID_RE.test(value)) throw new InvalidArgumentError(`expected an id of letters, digits, _ and - (at most 64), got ${JSON.stringify(value)}`);
  return value;
}

interface ImportOptions {
  agent: string;
  runId: string;
  batchSize: number;
}

export function feedbackCommand(ctx: CliContext): Command {
  const feedback = new Command('feedback').description('feedback rows');
  feedback
    .command('import')
    .description('import a JSONL file of {"prompt", "response", "score", "runId"?, "notes"?} rows for an agent')
    .argument('<file>', 'JSONL file, one row per line')
    .requiredOption('--agent <agentId>', 'the agent the rows belong to', safeId)
    .option('--run-id <runId>', 'runId of rows that carry none', safeId, 'cli-import')
    .option('--batch-size <n>', `rows per request (at most ${MAX_BATCH_ITEMS})`, batchSize, MAX_BATCH_ITEMS)
    .action((file: string, opts: ImportOptions) => importFeedback(ctx, file, opts));
  return feedback;
}

function batchSize(value: string): number {
  const n = positiveInt(value);
  if (n > MAX_BATCH_ITEMS) throw new InvalidArgumentError(`at most ${MAX_BATCH_ITEMS} (the batch route's limit), got ${n}`);
  return n;
}

async function importFeedback(ctx: CliContext, path: string, opts: ImportOptions): Promise<void> {
  const client = ctx.client();
  const file = await readFeedbackFile(path, { scoreRange: await client.feedbackScoreRange(), defaultRunId: opts.runId });
  const batches = batchesOf(file.rows, opts.batchSize);
  const line = new TerminalLine(ctx.io.err);
  let sent = 0;
  let replayed = 0;
  const ids: string[] = [];
  try {
    line.update(renderCountLine('rows', 0, file.rows.length));
    for (const [index, items] of batches.entries()) {
      const answer = await client.feedbackBatch(opts.agent, items, batchIdempotencyKey(file, opts.agent, opts.batchSize, index));
      ids.push(...answer.ids);
      sent += items.length;
      if (answer.replayed) replayed += 1;
      line.update(renderCountLine('rows', sent, file.rows.length));
    }
  } finally {
    line.end();
  }
  const summary = { agentId: opts.agent, rows: sent, batches: batches.length, replayedBatches: replayed, file: file.path, sha256: file.sha256 };
  if (ctx.json) return ctx.printJson({ ...summary, ids });
  ctx.print(
    `imported ${sent} rows for agent ${opts.agent} in ${batches.length} batch${batches.length === 1 ? '' : 'es'}` +
      (replayed ? ` (${replayed} already stored by an earlier import of this file: replayed, not written again)` : ''),
  );
}
