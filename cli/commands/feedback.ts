/**
 * `rlhf feedback import rows.jsonl --agent A`: checks every line first (a bad one is named and nothing is
 * sent), then sends the whole file as ONE NDJSON request (gzipped unless --no-gzip) to the bulk import
 * route, which stores all of it or nothing. The request carries a deterministic Idempotency-Key, so an
 * interrupted import can simply be run again: an import the server already stored is replayed, not
 * written twice. The bar counts the NDJSON bytes sent.
 */
import { Command, InvalidArgumentError } from 'commander';
import { NDJSON_MEDIA_TYPE } from '../../api/schemas/feedback';
import { SAFE_ID_PATTERN } from '../../common/ids';
import { ApiError } from '../errors';
import { readFeedbackFile, refusedLineError } from '../feedback-file';
import { gzipped, importIdempotencyKey, ndjsonByteLength, ndjsonChunks } from '../feedback-upload';
import type { CliContext } from '../context';
import { renderBytesLine, TerminalLine } from '../progress';

const SAFE_ID_RE = new RegExp(SAFE_ID_PATTERN);

/** commander parser for agent and run ids (letters, digits, _ and -, at most 64). */
export function safeId(value: string): string {
  if (!SAFE_ID_RE.test(value)) throw new InvalidArgumentError(`expected an id of letters, digits, _ and - (at most 64), got ${JSON.stringify(value)}`);
  return value;
}

interface ImportOptions {
  agent: string;
  runId: string;
  gzip: boolean;
}

export function feedbackCommand(ctx: CliContext): Command {
  const feedback = new Command('feedback').description('feedback rows');
  feedback
    .command('import')
    .description('import a JSONL file of {"prompt", "response", "score", "runId"?, "notes"?} rows for an agent, all or nothing, in one request')
    .argument('<file>', 'JSONL file, one row per line')
    .requiredOption('--agent <agentId>', 'the agent the rows belong to', safeId)
    .option('--run-id <runId>', 'runId of rows that carry none', safeId, 'cli-import')
    .option('--no-gzip', 'send the body uncompressed (default: gzip, Content-Encoding: gzip)')
    .action((file: string, opts: ImportOptions) => importFeedback(ctx, file, opts));
  return feedback;
}

async function importFeedback(ctx: CliContext, path: string, opts: ImportOptions): Promise<void> {
  const client = ctx.client();
  const file = await readFeedbackFile(path, { scoreRange: await client.feedbackScoreRange(), defaultRunId: opts.runId });
  const total = ndjsonByteLength(file.rows);
  const idempotencyKey = importIdempotencyKey(file, opts.agent, opts.runId);
  const line = new TerminalLine(ctx.io.err);
  const show = (sent: number) => line.update(renderBytesLine('sent', sent, total));
  let answer: { imported: number; replayed: boolean };
  try {
    show(0);
    const open = () => {
      const body = ndjsonChunks(file.rows, show);
      return opts.gzip ? gzipped(body) : body;
    };
    answer = await client.feedbackImport(opts.agent, { contentType: NDJSON_MEDIA_TYPE, ...(opts.gzip ? { contentEncoding: 'gzip' } : {}), open }, idempotencyKey);
  } catch (err) {
    if (err instanceof ApiError && err.line !== null) throw refusedLineError(file, err as ApiError & { line: number });
    throw err;
  } finally {
    line.end();
  }
  const summary = { agentId: opts.agent, rows: file.rows.length, imported: answer.imported, replayed: answer.replayed, bytes: total, file: file.path, sha256: file.sha256, idempotencyKey };
  if (ctx.json) return ctx.printJson(summary);
  ctx.print(
    `imported ${answer.imported} rows for agent ${opts.agent} in one request` +
      (answer.replayed ? ' (already stored by an earlier import of this file: replayed, not written again)' : ''),
  );
}
