/**
 * An API key of a project. Only the SHA-256 of the key's 32-byte secret is stored; the
 * `prefix` (public, random) finds the row, and the hash is compared in constant time
 * (db/api-key-format.ts). A revoked key stays for the audit trail and never authenticates.
 */
import { EntitySchema, type Opt } from '@mikro-orm/core';

export interface ApiKey {
  /** Random UUID. */
  id: string;
  projectId: string;
  /** Label chosen at creation (the CLI's --key-name), e.g. "ci". */
  name: string;
  /** 16 lower-case hex characters, the key's lookup part. */
  prefix: string;
  /** Hex SHA-256 of the secret bytes. */
  keyHash: string;
  createdAt: Date & Opt;
  revokedAt: Date | null;
}

export const ApiKeySchema = new EntitySchema<ApiKey>({
  name: 'ApiKey',
  tableName: 'api_key',
  properties: {
    id: { type: 'uuid', primary: true },
    projectId: { kind: 'm:1', entity: 'Project', mapToPk: true, fieldName: 'project_id', deleteRule: 'cascade' },
    name: { type: 'string', length: 64 },
    prefix: { type: 'string', length: 16, unique: 'api_key_prefix_unique' },
    keyHash: { type: 'string', length: 64 },
    createdAt: { type: 'datetime', length: 6, onCreate: () => new Date() },
    revokedAt: { type: 'datetime', length: 6, nullable: true },
  },
});
