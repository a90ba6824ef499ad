/**
 * Bulk feedback import: an NDJSON body, read as it arrives, each line parsed and validated with
 * the single POST's schema, written with `COPY ... FROM STDIN` in batches of IMPORT_BATCH_ROWS,
 * all in the caller's ONE transaction. All or nothing per request (chosen over resumable
 * imports: a client retries a whole file, and Idempotency-Key makes that retry safe); a bad
 * line, a body over the limit or a client that disconnects throws, the transaction rolls back,
 * and nothing from the request is kept. Memory is bounded by two batches (one being copied
 * while the next is parsed) plus one line, whatever the body's size.
 */
import { createHash, type Hash } from 'node:crypto';
import { Compile } from 'typebox/compile';
import type { NewFeedback, Repositories } from '../db/repositories';
import { fieldOfIssue, primaryIssue, type TypeBoxLikeIssue } from './error-handler';
import { HttpError, NdjsonLineError } from './errors';
import { ndjsonLines, type NdjsonLimits } from './ndjson';
import type { ScoreRange } from './plugins/app/config';
import { feedbackImportItemSchema, type FeedbackItem } from './schemas/feedback';

/**
 * Rows per COPY statement. Large enough that per-statement costs vanish (a COPY of 5,000
 * 200-byte rows is about 1 MB), small enough that two batches in memory stay a few MB.
 */
export const IMPORT_BATCH_ROWS = 5000;

/** Checks one parsed line against the feedback item schema; throws a 400 naming the line and field. */
export type LineValidator = (value: unknown, line: number) => FeedbackItem;

export function lineValidator(range: ScoreRange): LineValidator {
  const compiled = Compile(feedbackImportItemSchema(range));
  return (value, line) => {
    if (compiled.Check(value)) return value;
    const issue = primaryIssue([...compiled.Errors(value)] as TypeBoxLikeIssue[]);
    const field = issue ? fieldOfIssue(issue) : undefined;
    const what = issue?.message ?? 'is invalid';
    throw new NdjsonLineError(line, 'validation_error', field ? `line ${line}: ${field} ${what}` : `line ${line}: ${what}`, field);
  };
}

function parseLine(text: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new NdjsonLineError(line, 'invalid_json', `line ${line} is not valid JSON`);
  }
}

/** Thrown when an import body holds no row. */
export class EmptyImportError extends HttpError {
  override readonly name = 'EmptyImportError';
  constructor() {
    super(400, 'empty_import', 'the body holds no feedback row (NDJSON: one JSON object per line)', 'body');
  }
}

/** Passes the chunks through while hashing them; `hash.digest()` once they are all read. */
async function* hashed(body: AsyncIterable<Buffer>, hash: Hash): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    hash.update(chunk);
    yield chunk;
  }
}

/** sha256 (hex) of the whole body, read and dropped: a replayed import is identified without writing. */
export async function bodyDigest(body: AsyncIterable<Buffer>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk);
  return hash.digest('hex');
}

export interface ImportTarget {
  agentId: string;
  projectId: string;
}

export interface ImportResult {
  imported: number;
  /** sha256 (hex) of the decoded body: what identifies the request for Idempotency-Key. */
  digest: string;
}

/**
 * Streams the body into the agent's feedback through `repos` (which must be in a transaction).
 * One COPY runs while the next batch is parsed; a failure waits for the running COPY before
 * throwing, so the caller's rollback never races a statement on the connection.
 */
export async function importFeedback(
  body: AsyncIterable<Buffer>,
  repos: Repositories,
  target: ImportTarget,
  check: LineValidator,
  limits: NdjsonLimits,
): Promise<ImportResult> {
  const hash = createHash('sha256');
  const createdAt = new Date();
  let batch: NewFeedback[] = [];
  let imported = 0;
  // The running COPY, settled to its error (or null) at once, so a failure is never an unhandled rejection.
  let copying: Promise<unknown> = Promise.resolve(null);
  const flush = async () => {
    const failed = await copying;
    if (failed) throw failed;
    const rows = batch;
    batch = [];
    copying = repos.feedback.copy(rows, createdAt).then(
      () => null,
      (err: unknown) => err ?? new Error('COPY failed'),
    );
  };
  try {
    for await (const lines of ndjsonLines(hashed(body, hash), limits)) {
      for (const { line, text } of lines) {
        batch.push({ ...check(parseLine(text, line), line), ...target });
      }
      imported += lines.length;
      if (batch.length >= IMPORT_BATCH_ROWS) await flush();
    }
    if (imported === 0) throw new EmptyImportError();
    await flush();
    const failed = await copying;
    if (failed) throw failed;
  } catch (err) {
    await copying;
    throw err;
  }
  return { imported, digest: hash.digest('hex') };
}
