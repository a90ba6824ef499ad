/**
 * Streaming NDJSON (https://github.com/ndjson/ndjson-spec): a request body split into lines as
 * it arrives, never held whole. Lines end with `\n` (a `\r` before it is dropped); blank lines
 * are skipped but still counted, so line numbers match the client's file. Each yielded batch is
 * the complete lines of the chunks read so far; only one partial line is carried between chunks,
 * and it may not grow past `maxLineBytes`.
 */
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { BodyAbortedError, BodyTooLargeError, InvalidGzipError, NdjsonLineError, UnsupportedMediaTypeError, isHttpError } from './errors';

export interface NdjsonLine {
  /** 1-based line number in the (decoded) body. */
  line: number;
  text: string;
}

export interface NdjsonLimits {
  /** Longest accepted line, bytes (without its newline). */
  maxLineBytes: number;
  /** Largest accepted body, bytes. */
  maxBytes: number;
}

const NEWLINE = 0x0a;
const CR = 0x0d;

/** `fatal`: bytes that are not UTF-8 are refused, never turned silently into U+FFFD. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeLine(bytes: Buffer, line: number): string {
  const end = bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.length - 1 : bytes.length;
  try {
    return utf8.decode(bytes.subarray(0, end));
  } catch {
    throw new NdjsonLineError(line, 'invalid_utf8', `line ${line} is not valid UTF-8`);
  }
}

/** Yields the body's non-blank lines in batches (one per chunk read), numbered from 1. */
export async function* ndjsonLines(body: AsyncIterable<Buffer | string>, limits: NdjsonLimits): AsyncGenerator<NdjsonLine[]> {
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let total = 0;
  let line = 0;
  const tooLong = () => new NdjsonLineError(line + 1, 'line_too_long', `line ${line + 1} is longer than ${limits.maxLineBytes} bytes`);
  for await (const piece of body) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    total += chunk.length;
    if (total > limits.maxBytes) throw new BodyTooLargeError(limits.maxBytes);
    const batch: NdjsonLine[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      const bytes = carryBytes > 0 ? Buffer.concat([...carry, chunk.subarray(start, nl)]) : chunk.subarray(start, nl);
      carry = [];
      carryBytes = 0;
      line += 1;
      if (bytes.length > limits.maxLineBytes + 1) throw new NdjsonLineError(line, 'line_too_long', `line ${line} is longer than ${limits.maxLineBytes} bytes`);
      const text = decodeLine(bytes, line);
      if (text.trim() !== '') batch.push({ line, text });
      start = nl + 1;
    }
    if (start < chunk.length) {
      carry.push(chunk.subarray(start));
      carryBytes += chunk.length - start;
      if (carryBytes > limits.maxLineBytes + 1) throw tooLong();
    }
    if (batch.length > 0) yield batch;
  }
  if (carryBytes > 0) {
    line += 1;
    const text = decodeLine(Buffer.concat(carry), line);
    if (text.trim() !== '') yield [{ line, text }];
  }
}

/** Content codings a streamed body may use (RFC 9110 §8.4); anything else is a 415. */
export const BODY_ENCODINGS = ['identity', 'gzip', 'x-gzip'] as const;

/** 415 unless `encoding` (a Content-Encoding header) is one this server decodes. */
/** The request's content coding; an absent or empty Content-Encoding means none (RFC 9110 §8.4). */
function codingOf(encoding: string | undefined): string {
  return encoding?.trim().toLowerCase() || 'identity';
}

export function checkBodyEncoding(encoding: string | undefined): void {
  const coding = codingOf(encoding);
  if (!(BODY_ENCODINGS as readonly string[]).includes(coding)) {
    throw new UnsupportedMediaTypeError(`Content-Encoding ${coding} is not supported; send identity or gzip`, 'content-encoding');
  }
}

/**
 * The request body's bytes, decoded from gzip when `encoding` says so, as they arrive. Stopping
 * early does not destroy the request (the server can still answer 4xx); a client that
 * disconnects mid-body makes the iteration throw BodyAbortedError, so no consumer waits forever.
 * Compressed bytes are held to `maxBytes` too (the decoded count is the caller's).
 */
export async function* decodedBody(raw: Readable & { complete?: boolean }, encoding: string | undefined, maxBytes: number): AsyncGenerator<Buffer> {
  checkBodyEncoding(encoding);
  const coding = codingOf(encoding);
  let received = 0;
  const counted = async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      received += chunk.length;
      if (received > maxBytes) throw new BodyTooLargeError(maxBytes);
      yield chunk;
    }
  };
  // IncomingMessage.complete is false until the whole body has arrived (an in-process inject request has no such flag).
  const aborted = () => raw.complete === false;
  if (coding === 'identity') {
    try {
      yield* counted(raw.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>);
    } catch (err) {
      throw aborted() && !isHttpError(err) ? new BodyAbortedError() : err;
    }
    if (aborted()) throw new BodyAbortedError();
    return;
  }
  const gunzip = createGunzip();
  const onData = (chunk: Buffer) => {
    received += chunk.length;
  };
  const onError = () => gunzip.destroy(new BodyAbortedError());
  const onClose = () => {
    if (aborted()) gunzip.destroy(new BodyAbortedError());
  };
  raw.on('data', onData);
  raw.once('error', onError);
  raw.once('close', onClose);
  raw.pipe(gunzip);
  try {
    for await (const chunk of gunzip.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      if (received > maxBytes) throw new BodyTooLargeError(maxBytes);
      yield chunk;
    }
  } catch (err) {
    if ((err as { code?: unknown }).code === 'Z_DATA_ERROR' || (err as { code?: unknown }).code === 'Z_BUF_ERROR') {
      throw new InvalidGzipError();
    }
    throw err;
  } finally {
    raw.off('data', onData);
    raw.off('error', onError);
    raw.off('close', onClose);
    raw.unpipe(gunzip);
    gunzip.destroy();
  }
}
