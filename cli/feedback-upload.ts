/**
 * The body of `rlhf feedback import`: the checked rows of a feedback file as NDJSON for the bulk import
 * route (POST /api/policies/feedback/:agentId/import, api/README.md "Bulk import and export"), made as it
 * is sent (the rows are held once, the text never whole), optionally gzipped on the way, counting the
 * NDJSON bytes handed on for the progress bar. Its Idempotency-Key is derived from the file's content, the
 * agent and the runId given to rows without one, so a re-run of the same import replays the stored answer
 * instead of writing the rows twice.
 */
import { createHash } from 'node:crypto';
import { pipeline, Readable } from 'node:stream';
import { createGzip, constants as zlib } from 'node:zlib';
import type { FeedbackItem } from './api-client';
import type { FeedbackFile } from './feedback-file';

/** Rows per chunk of the body: about 0.2 MB of NDJSON at 200-byte rows, so progress moves often enough. */
export const UPLOAD_CHUNK_ROWS = 1000;

/**
 * gzip level 1: most of the size gain of text (NDJSON of feedback shrinks about 4x) at a few times the
 * speed of the default level 6, which would otherwise be slower than a LAN (zlib manual, "deflateInit").
 */
const GZIP_LEVEL = zlib.Z_BEST_SPEED;

const ndjsonLine = (row: FeedbackItem) => `${JSON.stringify(row)}\n`;

/** Bytes of the NDJSON body of `rows` (the progress bar's total). */
export function ndjsonByteLength(rows: readonly FeedbackItem[]): number {
  let n = 0;
  for (const row of rows) n += Buffer.byteLength(ndjsonLine(row));
  return n;
}

/** The NDJSON text of `rows`, UPLOAD_CHUNK_ROWS lines per chunk; `onBytes(total so far)` after each chunk is taken. */
export async function* ndjsonChunks(rows: readonly FeedbackItem[], onBytes: (sent: number) => void = () => undefined): AsyncGenerator<Buffer> {
  let sent = 0;
  for (let i = 0; i < rows.length; i += UPLOAD_CHUNK_ROWS) {
    const chunk = Buffer.from(rows.slice(i, i + UPLOAD_CHUNK_ROWS).map(ndjsonLine).join(''));
    yield chunk;
    sent += chunk.length;
    onBytes(sent);
  }
}

/** `body` gzipped as it is read (the route decodes `Content-Encoding: gzip`). */
export function gzipped(body: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  // Byte mode, so the source is read one chunk ahead at most (object mode would read 16 ahead of the bar).
  // A failure destroys the returned stream, so whoever reads it (fetch) sees the error; nothing to do here.
  return pipeline(Readable.from(body, { objectMode: false }), createGzip({ level: GZIP_LEVEL }), () => undefined);
}

/**
 * The Idempotency-Key of importing `file` for `agentId`: a hash of the file's content, the agent and the
 * default runId (all that decides the body the server hashes), so the same import always sends the same
 * key and a changed file or runId gets a new one.
 */
export function importIdempotencyKey(file: Pick<FeedbackFile, 'sha256'>, agentId: string, defaultRunId: string): string {
  const digest = createHash('sha256').update(`rlhf-feedback-ndjson-import\0${file.sha256}\0${agentId}\0${defaultRunId}`).digest('hex');
  return `rlhf-import-${digest.slice(0, 48)}`;
}
