/**
 * The validator compiler of every route. Bodies are validated as sent (TypeBox never converts a
 * JSON body, so a string "0.5" is not accepted as a score). Querystring, params and headers
 * arrive as strings; TypeBox's Value.Convert would turn `limit=true` into 1 and ` 12 ` or `0x10`
 * into numbers, accepting values the OpenAPI document does not allow. Here a string becomes a
 * number only when it is a plain decimal literal, and a boolean only from `true`/`false`;
 * anything else stays a string and fails validation naming its field.
 */
import type { FastifySchemaCompiler } from 'fastify';
import { Compile } from 'typebox/compile';
import { Format } from 'typebox/format';
import type { TSchema } from 'typebox';
import { STORABLE_TEXT_FORMAT } from './schemas/common';

/** JSON's number grammar (RFC 8259 §6), which is also what the document's `integer`/`number` mean. */
const DECIMAL = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

interface PropertySchema {
  type?: string | string[];
}

function typesOf(schema: PropertySchema | undefined): string[] {
  const t = schema?.type;
  return t === undefined ? [] : Array.isArray(t) ? t : [t];
}

/** One string value converted for its property schema, strictly; unchanged when it does not fit. */
export function convertStrict(schema: PropertySchema | undefined, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const types = typesOf(schema);
  if (types.includes('string')) return value;
  if ((types.includes('integer') || types.includes('number')) && DECIMAL.test(value)) return Number(value);
  if (types.includes('boolean') && (value === 'true' || value === 'false')) return value === 'true';
  return value;
}

function convertObject(schema: { properties?: Record<string, PropertySchema> }, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || !schema.properties) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [key, prop] of Object.entries(schema.properties)) if (key in out) out[key] = convertStrict(prop, out[key]);
  return out;
}

/** A high surrogate not followed by a low one, or a low one not preceded by a high one (no `u` flag: code units). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Registers the formats the schemas use (TypeBox's registry is process-wide; setting it again is harmless). */
export function registerFormats(): void {
  Format.Set(STORABLE_TEXT_FORMAT, (value) => !LONE_SURROGATE.test(value));
}

export const strictValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  registerFormats();
  const check = Compile(schema);
  return (value) => {
    const converted = httpPart === 'body' ? value : convertObject(schema as { properties?: Record<string, PropertySchema> }, value);
    if (check.Check(converted)) return { value: converted };
    return { error: check.Errors(converted) as never };
  };
};
