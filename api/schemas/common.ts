/** Schemas shared by several routes: ids, the error body, and limits. */
import { Type } from 'typebox';
import { SAFE_ID_PATTERN } from '../../common/ids';

/** Largest accepted request body (Fastify bodyLimit). */
export const BODY_LIMIT_BYTES = 1024 * 1024;
/**
 * Text Postgres can store and give back verbatim: no NUL (text columns reject U+0000: the
 * pattern) and no lone UTF-16 surrogate (UTF-8 cannot encode one; it would come back as U+FFFD:
 * the `storable-text` format, registered in api/validator.ts, is String.prototype.isWellFormed).
 * Two keywords, not one negated class with surrogates: Rust's regex (jsonschema-rs, which
 * schemathesis validates with) cannot express surrogates, and other validators treat an unknown
 * format as an annotation, so every tool reads the document the same way.
 */
export const STORABLE_TEXT_PATTERN = '^[^\\u0000]*$';
export const STORABLE_TEXT_FORMAT = 'storable-text';
/** The keywords of a storable text field. */
export const storableText = { pattern: STORABLE_TEXT_PATTERN, format: STORABLE_TEXT_FORMAT } as const;
/** Bounds on feedback text, in characters (JSON Schema maxLength counts code points). */
export const MAX_TEXT_CHARS = 32 * 1024;
export const MAX_NOTES_CHARS = 4 * 1024;

export const SafeId = (description: string) => Type.String({ pattern: SAFE_ID_PATTERN, description });

export const AgentIdParams = Type.Object({ agentId: SafeId('Agent id: letters, digits, _ and -, at most 64') }, { additionalProperties: false });
export const RunIdParams = Type.Object({ runId: SafeId('Training run id (run_ + 20 url-safe chars)') }, { additionalProperties: false });

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'Stable snake_case error code' }),
    message: Type.String(),
    field: Type.Optional(Type.String({ description: 'The offending field, dotted path (items.3.score)' })),
    runId: Type.Optional(Type.String({ description: 'run_active (409): the agent\'s active run, so a client whose start answer was lost can follow it' })),
    line: Type.Optional(Type.Integer({ minimum: 1, description: 'NDJSON bodies (import): the refused line, 1-based; `field` names the field in it' })),
  },
);

export const EmptyObject = Type.Object({}, { additionalProperties: false });

/** Response schemas every route shares: validation, payload too large, and the generic 500. */
export const commonErrorResponses = {
  400: ErrorBody,
  413: ErrorBody,
  415: ErrorBody,
  500: ErrorBody,
  503: ErrorBody,
};

/** Routes behind an API key add 401 (no valid key) and 429 (rate limit). */
export const authErrorResponses = { ...commonErrorResponses, 401: ErrorBody, 429: ErrorBody };

/** Routes on an agent add 404: unknown, or another project's. */
export const agentErrorResponses = { ...authErrorResponses, 404: ErrorBody };
