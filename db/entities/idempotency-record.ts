/**
 * The outcome of a write made under a client's `Idempotency-Key` (IETF draft
 * "The Idempotency-Key HTTP Header Field", draft-ietf-httpapi-idempotency-key-header): a retry
 * with the same key and the same request gets the stored answer instead of writing again.
 * Written in the same transaction as the rows it describes, so it exists exactly when they do.
 */
import { EntitySchema, type Opt } from '@mikro-orm/core';

export interface IdempotencyRecord {
  /** Keys are scoped to the API key's project: two projects may use the same key. */
  projectId: string;
  /** The client's key (1-255 visible ASCII characters). */
  key: string;
  /** sha256 (hex) of the request's method, route, agent and body: a reuse for another request is refused. */
  requestHash: string;
  /** HTTP status and JSON body of the original answer, replayed verbatim. */
  status: number;
  response: Record<string, unknown>;
  createdAt: Date & Opt;
}

export const IdempotencyRecordSchema = new EntitySchema<IdempotencyRecord>({
  name: 'IdempotencyRecord',
  tableName: 'idempotency_record',
  properties: {
    projectId: { kind: 'm:1', entity: 'Project', mapToPk: true, fieldName: 'project_id', primary: true, deleteRule: 'cascade' },
    key: { type: 'string', length: 255, primary: true },
    requestHash: { type: 'string', length: 64 },
    status: { type: 'smallint' },
    response: { type: 'json' },
    // Indexed for an expiry sweep by age.
    createdAt: { type: 'datetime', length: 6, onCreate: () => new Date(), index: 'idempotency_record_created_at_index' },
  },
});
