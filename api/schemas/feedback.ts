/** Feedback request and response schemas. The score schema is built from the configured range. */
import { Type, type Static } from 'typebox';
import type { Feedback } from '../../db/entities';
import { FEEDBACK_CURSOR_PATTERN } from '../../db/repositories/feedback-repository';
import type { ScoreRange } from '../plugins/app/config';
import { VERSION_LABEL_PATTERN } from './deployments';
import { BODY_LIMIT_BYTES, ErrorBody, MAX_NOTES_CHARS, MAX_TEXT_CHARS, SafeId, storableText, agentErrorResponses } from './common';

/** Most items one batch request may carry (all-or-nothing). */
export const MAX_BATCH_ITEMS = 1000;
export const MAX_PAGE_LIMIT = 200;
export const DEFAULT_PAGE_LIMIT = 50;

/** A finite number (JSON cannot carry NaN/Infinity; 1e999 parses to Infinity and is rejected), optionally bounded. */
export function scoreSchema(range: ScoreRange) {
  return Type.Number({
    description: 'Human score: any finite number unless the server configures a range',
    ...(range.min !== undefined ? { minimum: range.min } : {}),
    ...(range.max !== undefined ? { maximum: range.max } : {}),
  });
}

function feedbackFields(range: ScoreRange) {
  return {
    prompt: Type.String({ minLength: 1, maxLength: MAX_TEXT_CHARS, ...storableText }),
    response: Type.String({ maxLength: MAX_TEXT_CHARS, ...storableText }),
    score: scoreSchema(range),
    runId: SafeId('The agent-runtime run that produced the response'),
    notes: Type.Optional(Type.String({ maxLength: MAX_NOTES_CHARS, ...storableText })),
  };
}

/**
 * One feedback row (the single POST's body, a batch item). Its project is the API key's (the
 * seed's project_id), never a body field. `requestId` and `policyVersion` attribute the row to the
 * policy version that wrote the response (issue 13; checked in api/attribution.ts).
 */
export function feedbackItemSchema(range: ScoreRange) {
  return Type.Object(
    {
      ...feedbackFields(range),
      requestId: Type.Optional(Type.String({ format: 'uuid', description: 'The `requestId` a generate call of serve/ returned for this response' })),
      policyVersion: Type.Optional(Type.String({ pattern: VERSION_LABEL_PATTERN, description: 'The version that wrote the response, e.g. "v3" (implied by requestId)' })),
    },
    { additionalProperties: false },
  );
}

/** An NDJSON import line: a row without attribution (attributed rows go through the POST routes, which check it). */
export function feedbackImportItemSchema(range: ScoreRange) {
  return Type.Object(feedbackFields(range), { additionalProperties: false });
}

/** A feedback row as a client sends it. */
export type FeedbackItem = Static<ReturnType<typeof feedbackItemSchema>>;

export function feedbackBatchSchema(range: ScoreRange) {
  return Type.Object({ items: Type.Array(feedbackItemSchema(range), { minItems: 1, maxItems: MAX_BATCH_ITEMS }) }, { additionalProperties: false });
}

export const FeedbackCreated = Type.Object({ id: Type.String() });
export const FeedbackBatchCreated = Type.Object({ ids: Type.Array(Type.String()) });

export const FeedbackPageQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ pattern: FEEDBACK_CURSOR_PATTERN, description: 'nextCursor of the previous page: the decimal id of its last row (rows after it are returned)' })),
    // Optional: the TypeBox validator converts but does not apply defaults; the route does.
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_LIMIT, default: DEFAULT_PAGE_LIMIT })),
  },
  { additionalProperties: false },
);

/** Most ids one delete may name (a longer list is a range or a repeated call). */
export const MAX_DELETE_IDS = 1000;

export const FeedbackDeleteQuery = Type.Object(
  {
    // At most 18 digits per id: always inside bigint's range, so a long id is a 400, never a database error.
    ids: Type.Optional(
      Type.String({ pattern: '^[1-9][0-9]{0,17}(,[1-9][0-9]{0,17}){0,999}$', description: `Comma-separated row ids (at most ${MAX_DELETE_IDS}): delete only these` }),
    ),
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Delete rows created at or after this instant' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'Delete rows created before this instant' })),
  },
  { additionalProperties: false },
);

export const FeedbackDeleted = Type.Object({
  deleted: Type.Integer({ description: 'Rows deleted' }),
  runCopiesRemoved: Type.Integer({ description: 'Runs of the agent whose copy of the feedback (runs/<runId>/dataset/) was deleted with them' }),
});

export const FeedbackView = Type.Object({
  id: Type.String(),
  projectId: Type.Union([Type.String(), Type.Null()]),
  agentId: Type.String(),
  runId: Type.String(),
  prompt: Type.String(),
  response: Type.String(),
  score: Type.Number(),
  notes: Type.Union([Type.String(), Type.Null()]),
  policyVersion: Type.Union([Type.String(), Type.Null()]),
  requestId: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
});

/** A stored row as the list and the export show it. */
export function toFeedbackView(f: Feedback): Static<typeof FeedbackView> {
  return { ...f, createdAt: f.createdAt.toISOString() };
}

export const FeedbackPageBody = Type.Object({
  items: Type.Array(FeedbackView),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

/**
 * Optional `Idempotency-Key` (api/idempotency.ts): 1-255 visible ASCII characters, e.g. a UUID
 * the client makes once per logical write and sends again on every retry of it.
 */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]+$', description: 'Makes a retried write happen once: the same key and body replay the first answer' }),
  ),
});

/** Answers of an idempotent write route besides its 201. */
export const idempotentWriteResponses = { ...agentErrorResponses, 422: ErrorBody };


/** Media type of the bulk routes' bodies and answers: one JSON value per line (https://github.com/ndjson/ndjson-spec). */
export const NDJSON_MEDIA_TYPE = 'application/x-ndjson';
/** Longest import line, bytes: one row may be as large as a single POST's whole body. */
export const MAX_IMPORT_LINE_BYTES = BODY_LIMIT_BYTES;

/** Import headers: the optional Idempotency-Key, and the body's coding. */
export const FeedbackImportHeaders = Type.Object({
  ...IdempotencyHeaders.properties,
  'content-encoding': Type.Optional(Type.String({ description: 'identity (default) or gzip; anything else is 415' })),
});

/**
 * OpenAPI shape of an import body. Its lines are validated one by one as they stream (the route's
 * body validator is a no-op: Fastify would otherwise validate the stream object).
 */
export function feedbackImportBody(range: ScoreRange) {
  return {
    content: {
      [NDJSON_MEDIA_TYPE]: {
        schema: { ...feedbackImportItemSchema(range), description: 'NDJSON: one such object per line (blank lines skipped), optionally gzip-compressed' },
      },
    },
  };
}

export const FeedbackImported = Type.Object({ imported: Type.Integer({ minimum: 1, description: 'Rows stored, all in one transaction' }) });

export const FeedbackExportQuery = Type.Object(
  { cursor: Type.Optional(Type.String({ pattern: FEEDBACK_CURSOR_PATTERN, description: 'Start after this nextCursor of the paginated list (the decimal id of a row)' })) },
  { additionalProperties: false },
);

/** OpenAPI shape of an export answer (streamed; never serialised through this schema). */
export const feedbackExportBody = {
  content: { [NDJSON_MEDIA_TYPE]: { schema: { ...FeedbackView, description: 'NDJSON: one row per line in id order' } } },
};
