/**
 * Bulk feedback routes: NDJSON import (streamed into COPY, all or nothing per request) and
 * NDJSON export (streamed keyset pages). Both are scoped like the other feedback routes: an
 * agent of another project is a 404; an import for an unknown agent claims it for the key's
 * project in the import's own transaction (so a refused import leaves no agent behind).
 * Limits: IMPORT_MAX_BYTES per body (decoded, and compressed), MAX_IMPORT_LINE_BYTES per line,
 * and BULK_RATE_LIMIT_MAX requests per key per window on each of the two routes.
 */
import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createRepositories, type Repositories } from '../../db/repositories';
import { BodyTooLargeError, UnsupportedMediaTypeError } from '../errors';
import { bodyDigest, importFeedback, lineValidator, type LineValidator } from '../feedback-import';
import { IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER, idempotentKeyedWrite, requestHash, type WriteAnswer } from '../idempotency';
import { checkBodyEncoding, decodedBody } from '../ndjson';
import { agentNotFound, identityOf, ownerOf, requireOwnedAgent } from '../ownership';
import { AgentIdParams, ErrorBody, agentErrorResponses } from '../schemas/common';
import {
  FeedbackExportQuery,
  FeedbackImportHeaders,
  FeedbackImported,
  MAX_IMPORT_LINE_BYTES,
  NDJSON_MEDIA_TYPE,
  feedbackExportBody,
  feedbackImportBody,
  idempotentWriteResponses,
  toFeedbackView,
} from '../schemas/feedback';
import type { Feedback } from '../../db/entities';

/**
 * Rows per export query: one page in memory at a time (about 0.3 MB at 300-byte rows; at most
 * about 130 MB if every row carried the longest text allowed).
 */
export const EXPORT_PAGE_ROWS = 1000;

/** Imports at least this large refresh the table's statistics after they commit (FeedbackRepository.analyze). */
export const ANALYZE_AFTER_ROWS = 10_000;

/** The decoded body of an import request; iterable once. */
function importBody(request: FastifyRequest, maxBytes: number): AsyncGenerator<Buffer> {
  const encoding = request.headers['content-encoding'];
  return decodedBody(request.raw, typeof encoding === 'string' ? encoding : undefined, maxBytes);
}

/** NDJSON text of each page (the first one already read), pulled only as fast as the client reads. */
async function* ndjsonPages(first: IteratorResult<Feedback[]>, rest: AsyncIterable<Feedback[]>): AsyncGenerator<string> {
  const text = (page: Feedback[]) => page.map((f) => `${JSON.stringify(toFeedbackView(f))}\n`).join('');
  if (first.done) return;
  yield text(first.value);
  for await (const page of rest) yield text(page);
}

/** The rows are committed already: a failed ANALYZE is logged, never turned into an error answer. */
async function analyzeAfterImport(request: FastifyRequest): Promise<void> {
  try {
    await request.repos.feedback.analyze();
  } catch (err) {
    request.log.warn({ err }, 'ANALYZE after a bulk import failed; autovacuum will refresh the statistics');
  }
}

const feedbackBulkRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { scoreRange, env } = fastify.appConfig;
  const check: LineValidator = lineValidator(scoreRange);
  const limits = { maxBytes: env.IMPORT_MAX_BYTES, maxLineBytes: MAX_IMPORT_LINE_BYTES };
  const bulkRateLimit = { max: env.BULK_RATE_LIMIT_MAX, timeWindow: env.RATE_LIMIT_WINDOW_MS };

  // Encapsulated (this plugin only): the body reaches the handler as the request stream, unread.
  fastify.addContentTypeParser(NDJSON_MEDIA_TYPE, (_request, payload, done) => done(null, payload));

  /** The import's write inside a transaction: claim the agent, stream the rows in, answer 201. */
  const runImport = async (request: FastifyRequest, agentId: string, repos: Repositories): Promise<WriteAnswer & { hash: string }> => {
    const { projectId } = identityOf(request);
    if (!(await repos.agents.claim(agentId, projectId))) throw agentNotFound(agentId);
    const { imported, digest } = await importFeedback(importBody(request, limits.maxBytes), repos, { agentId, projectId }, check, limits);
    return { status: 201, body: { imported }, hash: requestHash(request, { sha256: digest }) };
  };

  fastify.post(
    '/api/policies/feedback/:agentId/import',
    {
      schema: {
        summary: 'Import feedback rows from NDJSON (optionally gzip), all or nothing',
        description:
          `Body: ${NDJSON_MEDIA_TYPE}, one feedback object per line (the single POST's fields and rules), streamed into the database. ` +
          `A bad line answers 400 with its \`line\` and \`field\`, and nothing from the request is kept; so does a client that disconnects. ` +
          `Limits: IMPORT_MAX_BYTES per body (decoded), ${MAX_IMPORT_LINE_BYTES} bytes per line, BULK_RATE_LIMIT_MAX requests per key per window.`,
        params: AgentIdParams,
        headers: FeedbackImportHeaders,
        body: feedbackImportBody(scoreRange),
        response: { 201: FeedbackImported, ...idempotentWriteResponses, 413: ErrorBody, 415: ErrorBody },
      },
      // Lines are validated as they stream (api/feedback-import.ts); the other parts as usual.
      validatorCompiler: (req) => (req.httpPart === 'body' ? () => true : TypeBoxValidatorCompiler(req)),
      config: { rateLimit: bulkRateLimit },
      preParsing: async (request, _reply, payload) => {
        if (request.headers['content-type']?.split(';')[0].trim().toLowerCase() !== NDJSON_MEDIA_TYPE) {
          throw new UnsupportedMediaTypeError(`send the rows as ${NDJSON_MEDIA_TYPE}`, 'content-type');
        }
        const encoding = request.headers['content-encoding'];
        checkBodyEncoding(typeof encoding === 'string' ? encoding : undefined);
        const length = Number(request.headers['content-length']);
        if (Number.isFinite(length) && length > limits.maxBytes) {
          throw new BodyTooLargeError(limits.maxBytes);
        }
        return payload;
      },
    },
    async (request, reply) => {
      const { agentId } = request.params;
      const { projectId } = identityOf(request);
      try {
        // Another project's agent: 404 before a byte of the body is read.
        const owner = await ownerOf(request, agentId);
        if (owner !== null && owner !== projectId) throw agentNotFound(agentId);
        const key = request.headers[IDEMPOTENCY_KEY_HEADER];
        const answer =
          typeof key === 'string'
            ? await idempotentKeyedWrite(request, key, {
                hashOnly: async () => requestHash(request, { sha256: await bodyDigest(importBody(request, limits.maxBytes)) }),
                write: (repos) => runImport(request, agentId, repos),
              })
            : { ...(await request.em.transactional((tx) => runImport(request, agentId, createRepositories(tx)))), replayed: false };
        if (answer.replayed) reply.header(REPLAYED_HEADER, 'true');
        else if (Number(answer.body.imported) >= ANALYZE_AFTER_ROWS) await analyzeAfterImport(request);
        return (reply as FastifyReply).status(answer.status).send(answer.body);
      } catch (err) {
        // Refused before the body ended: close the connection rather than read the rest of it.
        if (!request.raw.complete) reply.header('connection', 'close');
        throw err;
      }
    },
  );

  fastify.get(
    '/api/policies/feedback/:agentId/export',
    {
      schema: {
        summary: 'Stream all of an agent\'s feedback as NDJSON, in id order',
        description:
          `Answer: ${NDJSON_MEDIA_TYPE}, one row per line (the paginated list's item), read in pages of ${EXPORT_PAGE_ROWS} with the list's keyset; ` +
          '`cursor` (a nextCursor of the list) starts after that row. A failure mid-stream ends the connection without the final chunk, ' +
          'so a truncated export cannot pass for a whole one. BULK_RATE_LIMIT_MAX requests per key per window.',
        params: AgentIdParams,
        querystring: FeedbackExportQuery,
        response: { 200: feedbackExportBody, ...agentErrorResponses },
      },
      config: { rateLimit: bulkRateLimit },
    },
    async (request, reply) => {
      const { agentId } = request.params;
      await requireOwnedAgent(request, agentId);
      const pages = request.repos.feedback.pages(agentId, request.query.cursor ?? null, EXPORT_PAGE_ROWS);
      // The first page before the 200: a bad cursor or an unreachable database still gets its 4xx/503.
      const first = await pages.next();
      // A stream: Fastify pipes it and never serialises it through the response schema.
      return (reply as FastifyReply).type(NDJSON_MEDIA_TYPE).send(Readable.from(ndjsonPages(first, pages)));
    },
  );
};

export default feedbackBulkRoutes;
