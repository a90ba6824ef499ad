/**
 * The workers' one logger: pino JSON lines on stdout, like the API's (Fastify's logger is pino), at
 * LOG_LEVEL, with the API's redaction and safe error serializer. The Temporal runtime's logger (the SDK's
 * own messages, workflow `log` and activity `log`) is routed into it by `TemporalPinoLogger`.
 */
import { format } from 'node:util';
import pino, { type Logger as PinoLogger } from 'pino';
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { REDACTED_LOG_PATHS, serializeErrorSafely } from '../api/log-safety';
import type { Env } from '../common/env';

export type { PinoLogger };

/** The worker's root logger; `role` (cpu, gpu) is on every line. */
export function createWorkerLogger(env: Pick<Env, 'LOG_LEVEL'>, role: string): PinoLogger {
  return pino({
    level: env.LOG_LEVEL,
    base: { pid: process.pid, role },
    redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
    serializers: { err: (err: Error) => serializeErrorSafely(err as Error & Record<string, unknown>) },
  });
}

/**
 * Sends `console.*` of the whole worker process to the logger (field `source: "console"`), so lines that
 * libraries print themselves (TensorFlow.js's backend banner, for one) are JSON lines at a level too.
 */
export function routeConsoleToLogger(logger: PinoLogger): void {
  const to = (level: 'debug' | 'info' | 'warn' | 'error') => (...args: unknown[]) => logger[level]({ source: 'console' }, format(...args));
  console.log = to('info');
  console.info = to('info');
  console.debug = to('debug');
  console.warn = to('warn');
  console.error = to('error');
}

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Temporal's Logger interface over pino. The SDK's metadata (sdkComponent, workflow and activity info,
 * an `error`) becomes the line's fields; an Error under `error` is logged as pino's `err`.
 */
export class TemporalPinoLogger implements TemporalLogger {
  constructor(private readonly logger: PinoLogger) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const { error, ...rest } = (meta ?? {}) as LogMetadata & { error?: unknown };
    const fields = error instanceof Error ? { ...rest, err: error } : meta ?? {};
    this.logger[LEVELS[level] ?? 'info'](fields, message);
  }

  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
