/**
 * What the API's logs may hold: never an API key, never feedback text. Fastify's request
 * serializer logs method, url and address only (no headers, no body); `redact` covers
 * the Authorization header should any code log headers. Database errors are the other
 * route by which request data reaches a log line: knex inlines the bound values into the
 * message ("insert into feedback ... values ('<prompt>', ...) - <pg message>") and pg adds
 * `detail`/`where` fields, so those errors are logged by type and SQLSTATE only.
 */
import type { FastifyServerOptions } from 'fastify';
import { driverMessageTail, isDatabaseError } from './database-errors';

/** Pino redact paths (fast-redact syntax); censored as '[redacted]'. */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'request.headers.authorization',
  'authorization',
  'key',
  'body',
  'req.body',
  'request.body',
];

interface LoggedError {
  [key: string]: unknown;
  type: string;
  message: string;
  code?: unknown;
  sqlState?: unknown;
  statusCode?: unknown;
  stack: string;
}

/** Stack frames only: the first stack line repeats the message. */
function framesOf(stack: string | undefined): string {
  return (stack ?? '')
    .split('\n')
    .filter((line) => line.trim().startsWith('at '))
    .join('\n');
}

export function serializeErrorSafely(err: Error & Record<string, unknown>): LoggedError {
  if (isDatabaseError(err)) {
    // Server errors (with an SQLSTATE) may quote values; client-side connection errors do not.
    const code = err.sqlState ?? err.code;
    const detail = code === undefined ? `: ${driverMessageTail(err)}` : ' (message withheld: it may quote request data)';
    return {
      type: err.name,
      message: `database error ${String(code ?? '(no SQLSTATE)')}${detail}`,
      code: err.code,
      sqlState: err.sqlState,
      stack: framesOf(err.stack),
    };
  }
  return { type: err.name, message: err.message, code: err.code, statusCode: err.statusCode, stack: err.stack ?? '' };
}

/** The caller's logger options (or none) plus redaction and the safe error serializer. */
export function safeLoggerOptions(logger: FastifyServerOptions['logger']): FastifyServerOptions['logger'] {
  if (!logger) return logger;
  const base = logger === true ? {} : logger;
  return {
    ...base,
    redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
    serializers: { ...base.serializers, err: (err: Error) => serializeErrorSafely(err as Error & Record<string, unknown>) },
  };
}
