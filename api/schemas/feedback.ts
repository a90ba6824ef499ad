/** Feedback request and response schemas. The score schema is built from the configured range. */
import { Type } from 'typebox';
import { FEEDBACK_CURSOR_PATTERN } from '../../db/repositories/feedback-repository';
import type { ScoreRange } from '../plugins/app/config';
import { ErrorBody, MAX_NOTES_CHARS, MAX_TEXT_CHARS, SafeId, storableText, agentErrorResponses } from './common';

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

/** One feedback row. Its project is the API key's (the seed's project_id), never a body field. */
export function feedbackItemSchema(range: ScoreRange) {
  return Type.Object(
    {
      prompt: Type.String({ minLength: 1, maxLength: MAX_TEXT_CHARS, ...storableText }),
      response: Type.String({ maxLength: MAX_TEXT_CHARS, ...storableText }),
      score: scoreSchema(range),
      runId: SafeId('The agent-runtime run that produced the response'),
      notes: Type.Optional(Type.String({ maxLength: MAX_NOTES_CHARS, ...storableText })),
    },
    { additionalProperties: false },
  );
}

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

export const FeedbackView = Type.Object({
  id: Type.String(),
  projectId: Type.Union([Type.String(), Type.Null()]),
  agentId: Type.String(),
  runId: Type.String(),
  prompt: Type.String(),
  response: Type.String(),
  score: Type.Number(),
  notes: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
});

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

