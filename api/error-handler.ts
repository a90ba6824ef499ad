/**
 * One error policy for every route: 4xx answers `{ error, message, field? }` naming the
 * field; an unreachable database or Temporal answers 503 with Retry-After; anything else is logged
 * with its details (api/log-safety.ts keeps request data out) and answered with a generic 500 body,
 * so no stack trace, SQL or internal message reaches a client. Errors are recognised by
 * `name`/`code`, not `instanceof`, which breaks across module realms (STYLE.md).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable } from './database-errors';
import { isTemporalUnavailable } from './temporal-errors';
import { ServiceUnavailableError, isHttpError } from './errors';

export interface TypeBoxLikeIssue {
  keyword?: string;
  instancePath?: string;
  params?: { requiredProperties?: string[]; additionalProperties?: string[]; missingProperty?: string };
  message?: string;
}

export interface ErrorBodyShape {
  error: string;
  message: string;
  field?: string;
  /** The run an error is about (run_active: the agent's active run). */
  runId?: string;
  /** The refused line of an NDJSON body, 1-based. */
  line?: number;
}

export const INTERNAL_ERROR_BODY: ErrorBodyShape = { error: 'internal_error', message: 'Internal server error' };

/** Dotted field path of a validation issue: '/items/3/score' → 'items.3.score'. */
export function fieldOfIssue(issue: TypeBoxLikeIssue): string | undefined {
  const parts = (issue.instancePath ?? '').split('/').filter(Boolean);
  const named = issue.params?.requiredProperties?.[0] ?? issue.params?.missingProperty ?? issue.params?.additionalProperties?.[0];
  if (named) parts.push(named);
  return parts.length > 0 ? parts.join('.') : undefined;
}

/** The issue to report: additionalProperties issues come after a bare 'schema is false' one, so the named one wins. */
export function primaryIssue(issues: readonly TypeBoxLikeIssue[]): TypeBoxLikeIssue | undefined {
  return issues.find((i) => i.keyword !== 'boolean') ?? issues[0];
}

function validationBody(error: FastifyError): ErrorBodyShape {
  const issue = primaryIssue((error.validation ?? []) as TypeBoxLikeIssue[]);
  const field = issue ? fieldOfIssue(issue) : undefined;
  const where = error.validationContext ?? 'request';
  const what = issue?.message ?? 'is invalid';
  return { error: 'validation_error', message: field ? `${where}.${field} ${what}` : `${where} ${what}`, ...(field ? { field } : {}) };
}

/** Maps a persistence-layer error (by name) to its HTTP answer, or null. */
function domainError(error: Error & Record<string, unknown>): { status: number; body: ErrorBodyShape } | null {
  switch (error.name) {
    case 'InvalidCursorError':
      return { status: 400, body: { error: 'invalid_cursor', message: error.message, field: 'cursor' } };
    case 'ActiveRunExistsError':
      return {
        status: 409,
        body: { error: 'run_active', message: error.message, field: 'agentId', ...(typeof error.activeRunId === 'string' ? { runId: error.activeRunId } : {}) },
      };
    case 'RunNotFoundError':
      return { status: 404, body: { error: 'not_found', message: error.message, field: 'runId' } };
    case 'ConfigError':
      return { status: 400, body: { error: 'invalid_config', message: error.message, field: String(error.field ?? '') || undefined } };
    default:
      return null;
  }
}

/** Seconds a client should wait before retrying after a 503. */
const RETRY_AFTER_UNAVAILABLE_S = 1;

function snakeCase(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '') || 'bad_request';
}

export function handleError(this: FastifyInstance, error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error.validation) return reply.status(400).send(validationBody(error));
  const e = error as unknown as Error & Record<string, unknown>;
  if (isHttpError(error)) {
    const line = typeof e.line === 'number' ? { line: e.line } : {};
    return reply.status(error.statusCode).send({ error: error.code, message: error.message, ...(error.field ? { field: error.field } : {}), ...line });
  }
  const mapped = domainError(e);
  if (mapped) {
    if (mapped.body.field === undefined) delete mapped.body.field;
    return reply.status(mapped.status).send(mapped.body);
  }
  // Fastify's own client errors (body too large, malformed JSON, wrong content type): their messages are safe.
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    const code = error.statusCode === 413 ? 'payload_too_large' : snakeCase(error.code ?? 'bad_request').replace(/^fst_err_/, '');
    return reply.status(error.statusCode).send({ error: code, message: error.message });
  }
  if (isDatabaseUnavailable(e)) {
    request.log.warn({ err: error }, 'database unavailable');
    const unavailable = new ServiceUnavailableError('the database');
    return reply.status(503).header('retry-after', String(RETRY_AFTER_UNAVAILABLE_S)).send({ error: unavailable.code, message: unavailable.message });
  }
  if (isTemporalUnavailable(e)) {
    request.log.warn({ err: error }, 'temporal unavailable');
    const unavailable = new ServiceUnavailableError('Temporal');
    return reply.status(503).header('retry-after', String(RETRY_AFTER_UNAVAILABLE_S)).send({ error: unavailable.code, message: unavailable.message });
  }
  request.log.error({ err: error }, 'unhandled error');
  return reply.status(500).send(INTERNAL_ERROR_BODY);
}

export function handleNotFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.status(404).send({ error: 'not_found', message: `route ${request.method} ${request.url.split('?')[0]} not found` });
}
