/**
 * Reading a JSONL feedback file for `rlhf feedback import`: every line is parsed and checked against the
 * API's own row schema (api/schemas/feedback.ts, with the server's score range) BEFORE anything is sent,
 * so a bad line is named and nothing is written; a line the server refuses anyway is named the same way.
 * For the demo's batched posting, batches of the file get Idempotency-Keys derived from the file's
 * content, the agent and the batch, so running it again replays instead of writing twice.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { feedbackItemSchema } from '../api/schemas/feedback';
import type { ScoreRange } from '../api/plugins/app/config';
import type { FeedbackItem } from './api-client';
import { ApiError, FeedbackFileError } from './errors';

export interface FeedbackFile {
  path: string;
  /** sha256 of the file's bytes, hex. */
  sha256: string;
  rows: FeedbackItem[];
  /** The file's line (1-based) of each row: `rows[i]` is line `lines[i]` (blank lines hold no row). */
  lines: number[];
}

export interface ReadFeedbackOptions {
  /** The server's score bounds (RlhfApiClient.feedbackScoreRange). */
  scoreRange: ScoreRange;
  /** runId given to rows that carry none. */
  defaultRunId: string;
}

/** Reads and validates every line; throws FeedbackFileError naming the first bad line and field. */
export async function readFeedbackFile(path: string, opts: ReadFeedbackOptions): Promise<FeedbackFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new FeedbackFileError(`${path}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`, path, 0, null);
  }
  // Loaded here, not at start-up: typebox's validator is most of the CLI's start time, and only import needs it.
  const { Value } = await import('typebox/value');
  const schema = feedbackItemSchema(opts.scoreRange);
  const rows: FeedbackItem[] = [];
  const rowLines: number[] = [];
  const lines = bytes.toString('utf8').split('\n');
  lines.forEach((text, i) => {
    const line = i + 1;
    if (text.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new FeedbackFileError(`${path}:${line}: not valid JSON (${(err as Error).message})`, path, line, null);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new FeedbackFileError(`${path}:${line}: each line must be a JSON object {"prompt", "response", "score", "runId"?, "notes"?}`, path, line, null);
    }
    const row = { runId: opts.defaultRunId, ...(parsed as Record<string, unknown>) };
    const first = Value.Errors(schema, row)[0];
    if (first) {
      const missing = (first.params as { requiredProperties?: string[] }).requiredProperties?.[0];
      const field = first.instancePath.replace(/^\//, '').replace(/\//g, '.') || missing || null;
      // additionalProperties: false reports "schema is false" at the extra field.
      const message = missing ? 'is required' : first.keyword === 'boolean' ? 'is not a feedback field (allowed: prompt, response, score, runId, notes)' : first.message;
      throw new FeedbackFileError(`${path}:${line}: ${field ? `field "${field}" ` : ''}${message}`, path, line, field);
    }
    rows.push(row as unknown as FeedbackItem);
    rowLines.push(line);
  });
  if (rows.length === 0) throw new FeedbackFileError(`${path}: no rows (the file is empty)`, path, 0, null);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex'), rows, lines: rowLines };
}

/**
 * The server's refusal of one line of the import body (400 with `line`), named like the local check names
 * a line: `rows.jsonl:517: field "score" must be number`. The body's line N is the file's N-th row, so the
 * file line is `lines[N - 1]`. Happens only when the server checks what this CLI does not (a newer server).
 */
export function refusedLineError(file: Pick<FeedbackFile, 'path' | 'lines'>, err: ApiError & { line: number }): FeedbackFileError {
  const line = file.lines[err.line - 1] ?? err.line;
  // The server's message starts "line N: <field> ..." or "line N is ..." (api/feedback-import.ts, api/ndjson.ts).
  const detail = err.serverMessage.replace(/^line \d+:? /, '');
  const what = err.field && detail.startsWith(`${err.field} `) ? `field "${err.field}" ${detail.slice(err.field.length + 1)}` : detail;
  return new FeedbackFileError(`${file.path}:${line}: ${what} (refused by the server: ${err.code ?? err.status})`, file.path, line, err.field);
}

/** Splits rows into batches of at most `size` (≤ 1000, the batch route's limit); the demo posts these. */
export function batchesOf<T>(rows: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

/**
 * The Idempotency-Key of one batch: a hash of the file's content, the agent, the batch size and the batch's
 * index. The same import (same file, agent, batch size) sends the same keys, so the server replays the
 * batches it already stored instead of writing them again; a changed file gets new keys.
 */
export function batchIdempotencyKey(file: Pick<FeedbackFile, 'sha256'>, agentId: string, batchSize: number, index: number): string {
  const digest = createHash('sha256').update(`rlhf-feedback-import\0${file.sha256}\0${agentId}\0${batchSize}\0${index}`).digest('hex');
  return `rlhf-import-${digest.slice(0, 48)}`;
}
