/**
 * HTTP-facing errors. Each carries its status, a stable snake_case `error` code, and the
 * offending `field` when there is one; the error handler in app.ts turns them into the
 * `{ error, message, field? }` body. Anything that is not a 4xx becomes a generic 500.
 */

/** Thrown when a request must be answered with a 4xx status; the message is safe to show. */
export class HttpError extends Error {
  override readonly name: string = 'HttpError';
  /** Brand checked by the error handler (instanceof breaks across realms). */
  readonly isHttpError = true;
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** Thrown when a route's subject (run, agent policy) does not exist. */
export class NotFoundError extends HttpError {
  override readonly name = 'NotFoundError';
  constructor(message: string, field?: string) {
    super(404, 'not_found', message, field);
  }
}

/** Thrown when an agent has too little feedback to train (the seed required 10 rows). */
export class InsufficientFeedbackError extends HttpError {
  override readonly name = 'InsufficientFeedbackError';
  constructor(
    readonly feedbackCount: number,
    readonly required: number,
  ) {
    super(400, 'insufficient_feedback', `at least ${required} feedback rows are needed to train, found ${feedbackCount}`);
  }
}

/** Thrown when a run-control request targets a run that has already finished. */
export class RunFinishedError extends HttpError {
  override readonly name = 'RunFinishedError';
  constructor(
    readonly runId: string,
    readonly status: string,
  ) {
    super(409, 'run_finished', `training run ${runId} has already finished (${status})`, 'runId');
  }
}

export function isHttpError(error: unknown): error is HttpError {
  return typeof error === 'object' && error !== null && (error as { isHttpError?: unknown }).isHttpError === true;
}

/** Thrown when a request has no valid API key (missing, malformed, unknown or revoked: one answer for all). */
export class UnauthorizedError extends HttpError {
  override readonly name = 'UnauthorizedError';
  constructor() {
    super(401, 'unauthorized', 'a valid API key is required: Authorization: Bearer <key>');
  }
}

/** Thrown when a dependency (Postgres) cannot be reached; the client may retry. */
export class ServiceUnavailableError extends HttpError {
  override readonly name = 'ServiceUnavailableError';
  constructor(what: string) {
    super(503, 'service_unavailable', `${what} is unavailable; retry later`);
  }
}

/** Thrown when one line of an NDJSON body is refused; `line` is 1-based, `field` the offending field when known. */
export class NdjsonLineError extends HttpError {
  override readonly name = 'NdjsonLineError';
  constructor(
    readonly line: number,
    code: string,
    message: string,
    field?: string,
  ) {
    super(400, code, message, field);
  }
}

/** Thrown when a streamed body passes its size limit (bytes, after decoding). */
export class BodyTooLargeError extends HttpError {
  override readonly name = 'BodyTooLargeError';
  constructor(readonly limitBytes: number) {
    super(413, 'payload_too_large', `request body is larger than ${limitBytes} bytes`);
  }
}

/** Thrown when a route is sent a body in a media type or encoding it does not take. */
export class UnsupportedMediaTypeError extends HttpError {
  override readonly name = 'UnsupportedMediaTypeError';
  constructor(message: string, field: string) {
    super(415, 'unsupported_media_type', message, field);
  }
}

/** Thrown when a body sent with Content-Encoding: gzip does not decode (corrupt or truncated). */
export class InvalidGzipError extends HttpError {
  override readonly name = 'InvalidGzipError';
  constructor() {
    super(400, 'invalid_gzip', 'the body is not valid gzip (corrupt or truncated)', 'content-encoding');
  }
}

/**
 * Thrown when a streamed request body stops before its end (the client disconnected). Its
 * answer reaches no one; it is an HttpError so that it is not logged as a server fault.
 */
export class BodyAbortedError extends HttpError {
  override readonly name = 'BodyAbortedError';
  constructor() {
    super(400, 'body_aborted', 'the client disconnected before the request body ended');
  }
}
